//! Async streaming (feature `tokio`): [`encrypt_async`] and [`decrypt_async`] copy from a
//! `tokio::io::AsyncRead` to a `tokio::io::AsyncWrite` through the same bounded-memory
//! [`EncryptingWriter`] and [`DecryptingReader`], which run on a blocking thread connected by
//! bounded channels (at most a few 64 KiB chunks in flight each way).

use crate::Error;
use crate::decrypt::{DecryptConfig, DecryptRequest};
use crate::encrypt::{EncryptConfig, EncryptRequest};
use crate::keyring::Keyring;
use crate::stream::{DecryptingReader, EncryptingWriter, StreamOptions};
use std::io::{self, Read, Write};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

const CHUNK: usize = 64 << 10;
const IN_FLIGHT: usize = 4;

type Chunk = Zeroizing<Vec<u8>>;

/// A blocking `Read` over chunks sent by the async side.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Chunk>>,
    current: Chunk,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk?;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let avail = self.current.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

/// A blocking `Write` that sends chunks to the async side.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK);
        let chunk = Zeroizing::new(buf.get(..n).unwrap_or_default().to_vec());
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "output closed"))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `reader` to its end into the channel.
async fn pump_in<R: AsyncRead + Unpin>(mut reader: R, tx: mpsc::Sender<io::Result<Chunk>>) {
    loop {
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        match reader.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Ok(buf)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Writes everything from the channel to `writer`.
async fn pump_out<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut rx: mpsc::Receiver<Chunk>,
) -> io::Result<()> {
    while let Some(chunk) = rx.recv().await {
        writer.write_all(&chunk).await?;
    }
    writer.flush().await
}

async fn run<R, W, F>(reader: R, writer: &mut W, work: F) -> Result<(), Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    F: FnOnce(ChannelReader, ChannelWriter) -> Result<(), Error> + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::channel(IN_FLIGHT);
    let (out_tx, out_rx) = mpsc::channel(IN_FLIGHT);
    let blocking = tokio::task::spawn_blocking(move || {
        work(
            ChannelReader {
                rx: in_rx,
                current: Zeroizing::new(Vec::new()),
                pos: 0,
            },
            ChannelWriter { tx: out_tx },
        )
    });
    let ((), written) = tokio::join!(pump_in(reader, in_tx), pump_out(writer, out_rx));
    let result = blocking
        .await
        .map_err(|_| Error::Internal("the streaming thread failed"))?;
    result?;
    written.map_err(Error::Io)
}

/// Encrypts everything `reader` yields into one message written to `writer`.
pub async fn encrypt_async<R, W>(
    config: EncryptConfig,
    keyring: Arc<dyn Keyring + Send + Sync>,
    request: EncryptRequest,
    reader: R,
    writer: &mut W,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    run(reader, writer, move |mut input, output| {
        let mut w = EncryptingWriter::new(&config, keyring.as_ref(), &request, output)?;
        io::copy(&mut input, &mut w)?;
        w.finish()?;
        Ok(())
    })
    .await
}

/// Decrypts the message `reader` yields into `writer`, releasing plaintext by the same rules
/// as [`DecryptingReader`] (with `options`). On error, what was written before it must be
/// discarded if `options.allow_unverified_streaming` was set.
pub async fn decrypt_async<R, W>(
    config: DecryptConfig,
    keyring: Arc<dyn Keyring + Send + Sync>,
    request: DecryptRequest,
    options: StreamOptions,
    reader: R,
    writer: &mut W,
) -> Result<(), Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    run(reader, writer, move |input, mut output| {
        let mut r = DecryptingReader::new(&config, keyring.as_ref(), &request, options, input)?;
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        loop {
            let n = r.read(&mut buf).map_err(|e| match e.into_inner() {
                Some(inner) => match inner.downcast::<Error>() {
                    Ok(err) => *err,
                    Err(other) => Error::Io(io::Error::other(other)),
                },
                None => Error::Malformed("the message failed to decrypt"),
            })?;
            if n == 0 {
                return Ok(());
            }
            output.write_all(buf.get(..n).unwrap_or_default())?;
        }
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::keyring::RawAesKeyring;
    use crate::{ClientConfig, decrypt, encrypt};
    use trent_crypto::SecretBytes;

    fn keyring() -> Arc<dyn Keyring + Send + Sync> {
        Arc::new(RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&[3; 32])).unwrap())
    }

    #[tokio::test]
    async fn async_round_trips_and_interoperates_with_the_in_memory_api() {
        for len in [0usize, 1, 4096, 1_000_000] {
            let pt: Vec<u8> = (0..len).map(|i| (i % 249) as u8).collect();
            let mut message = Vec::new();
            encrypt_async(
                ClientConfig::default(),
                keyring(),
                EncryptRequest::default(),
                pt.as_slice(),
                &mut message,
            )
            .await
            .unwrap();
            let out = decrypt(
                &ClientConfig::default(),
                keyring().as_ref(),
                &DecryptRequest::default(),
                &message,
            )
            .unwrap();
            assert_eq!(out.plaintext.expose_secret(), pt.as_slice());
            let m2 = encrypt(
                &ClientConfig::default(),
                keyring().as_ref(),
                &EncryptRequest::default(),
                &pt,
            )
            .unwrap()
            .ciphertext;
            let mut back = Vec::new();
            decrypt_async(
                ClientConfig::default(),
                keyring(),
                DecryptRequest::default(),
                StreamOptions::default(),
                m2.as_slice(),
                &mut back,
            )
            .await
            .unwrap();
            assert_eq!(back, pt);
        }
    }

    #[tokio::test]
    async fn async_failures_release_nothing_of_a_signed_message() {
        let pt = vec![7u8; 100_000];
        let mut m = encrypt(
            &ClientConfig::default(),
            keyring().as_ref(),
            &EncryptRequest::default(),
            &pt,
        )
        .unwrap()
        .ciphertext;
        let last = m.len() - 1;
        m[last] ^= 1;
        let mut out = Vec::new();
        let err = decrypt_async(
            ClientConfig::default(),
            keyring(),
            DecryptRequest::default(),
            StreamOptions::default(),
            m.as_slice(),
            &mut out,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Signature), "{err}");
        assert!(out.is_empty());
        let wrong: Arc<dyn Keyring + Send + Sync> =
            Arc::new(RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&[4; 32])).unwrap());
        let err = decrypt_async(
            ClientConfig::default(),
            wrong,
            DecryptRequest::default(),
            StreamOptions::default(),
            &m[..],
            &mut out,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NoDecryptableDataKey), "{err}");
    }
}
