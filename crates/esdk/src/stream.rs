//! Streaming with bounded memory: [`EncryptingWriter`] (a `Write` that encrypts into another
//! `Write`) and [`DecryptingReader`] (a `Read` that decrypts from another `Read`).
//!
//! The writer holds at most one frame of plaintext. The reader holds one frame at a time,
//! except that a signed message's plaintext is released only after the footer signature
//! verifies: it is held back (up to [`StreamOptions::max_buffered`] bytes; more is an error)
//! unless the caller opts in to unverified streaming, in which case every frame but the final
//! one is released as soon as its own tag verifies, and the final frame only after the
//! signature. Non-framed messages are held whole either way (AES-GCM authenticates a block
//! only at its end).

use crate::context::EncryptionContext;
use crate::decrypt::{
    DecryptConfig, DecryptRequest, FINAL_FRAME_MARK, FINAL_FRAME_STRING, FRAME_STRING,
    MAX_NON_FRAMED_LEN, Opened, SINGLE_BLOCK_STRING, body_aad, open_header,
};
use crate::encrypt::{EncryptConfig, EncryptRequest, MessageEncryptor};
use crate::header::{ContentType, Header};
use crate::keyring::Keyring;
use crate::materials::MaterialsManager;
use crate::{AlgorithmSuite, Error};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use trent_crypto::SecretBytes;
use trent_crypto::envelope::{AesGcmKey, EcdsaCurve, Hasher, ecdsa_verify_prehashed};
use zeroize::Zeroizing;

/// The default bound on plaintext held back until a signature verifies: 16 MiB.
pub const DEFAULT_MAX_BUFFERED: usize = 16 << 20;

/// How a [`DecryptingReader`] releases plaintext.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Release each frame of a signed message once its tag verifies, before the signature
    /// does (the final frame still waits for the signature). A caller that opts in must
    /// discard what it read if the stream later fails.
    pub allow_unverified_streaming: bool,
    /// The most plaintext held back at once (a signed message without the opt-in, or a
    /// non-framed body); more is [`Error::BufferLimit`].
    pub max_buffered: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            allow_unverified_streaming: false,
            max_buffered: DEFAULT_MAX_BUFFERED,
        }
    }
}

fn io_error(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

fn read_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        Error::Truncated
    } else {
        Error::Io(e)
    }
}

/// Encrypts everything written to it into `inner`. Call [`EncryptingWriter::finish`] at the
/// end: without it the message has no final frame and will not decrypt.
pub struct EncryptingWriter<W: Write> {
    inner: W,
    encryptor: MessageEncryptor,
    frame_len: usize,
    /// Threads sealing frames, and the plaintext bytes gathered before sealing them (one
    /// frame with one thread; a batch of frames shared out between threads otherwise).
    threads: usize,
    batch_len: usize,
    pending: Zeroizing<Vec<u8>>,
    out: Vec<u8>,
    /// Sealed by the threads, not yet hashed and written (the previous batch).
    stash: Vec<Vec<u8>>,
}

/// Plaintext gathered per thread before a parallel batch is sealed.
const PARALLEL_BYTES_PER_THREAD: usize = 1 << 20;

/// Reads up to this size are read into a buffer of their full size at once; longer ones (a
/// header may claim frames of up to 4 GiB) grow with what arrives.
const PREALLOCATED_READ: usize = 1 << 20;

/// Sealed bytes gathered before they are written to the inner writer.
const OUT_BYTES: usize = 256 << 10;

impl<W: Write> EncryptingWriter<W> {
    /// Gets the data key from `keyring` and writes the header to `inner`.
    pub fn new(
        config: &EncryptConfig,
        keyring: &dyn Keyring,
        request: &EncryptRequest,
        inner: W,
    ) -> Result<Self, Error> {
        let encryptor = MessageEncryptor::new(config, keyring, request)?;
        Self::start(encryptor, inner)
    }

    /// As [`EncryptingWriter::new`], with materials from `cmm`; `plaintext_length` is the size
    /// of what will be written, if known (a caching manager needs it).
    pub fn with_materials_manager(
        config: &EncryptConfig,
        cmm: &dyn MaterialsManager,
        request: &EncryptRequest,
        plaintext_length: Option<u64>,
        inner: W,
    ) -> Result<Self, Error> {
        let encryptor =
            MessageEncryptor::with_materials_manager(config, cmm, request, plaintext_length)?;
        Self::start(encryptor, inner)
    }

    fn start(encryptor: MessageEncryptor, mut inner: W) -> Result<Self, Error> {
        let frame_len = usize::try_from(encryptor.frame_length())
            .map_err(|_| Error::InvalidRequest("frame length does not fit in memory"))?;
        inner.write_all(encryptor.header())?;
        Ok(EncryptingWriter {
            inner,
            encryptor,
            frame_len,
            threads: 1,
            batch_len: frame_len,
            pending: Zeroizing::new(Vec::new()),
            out: Vec::new(),
            stash: Vec::new(),
        })
    }

    /// Seals frames on `threads` threads. The output is byte-for-byte what one thread writes
    /// (frame IVs come from sequence numbers). Memory grows to about `threads` × 1 MiB (at
    /// least `threads` frames) of plaintext. Call before writing.
    pub fn with_threads(mut self, threads: usize) -> Self {
        if self.pending.is_empty() && threads > 1 {
            let frames_per_thread = (PARALLEL_BYTES_PER_THREAD / self.frame_len.max(1)).max(1);
            self.threads = threads;
            self.batch_len = self
                .frame_len
                .saturating_mul(frames_per_thread)
                .saturating_mul(threads);
        }
        self
    }

    pub fn suite(&self) -> AlgorithmSuite {
        self.encryptor.suite()
    }

    /// The full encryption context (the caller's plus `aws-crypto-public-key`).
    pub fn encryption_context(&self) -> &EncryptionContext {
        self.encryptor.encryption_context()
    }

    /// Seals the final frame and footer, flushes, and returns the inner writer.
    pub fn finish(mut self) -> Result<W, Error> {
        // Every full frame is a regular frame; the rest (shorter than a frame, possibly empty)
        // is the final frame, as in [`crate::encrypt`].
        let regular = self.pending.len() / self.frame_len * self.frame_len;
        let pending = std::mem::take(&mut self.pending);
        let (frames, last) = pending.split_at(regular);
        self.seal_regular(frames)?;
        self.drain_stash()?;
        self.encryptor.finish(last, &mut self.out)?;
        self.write_out()?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Writes the sealed bytes gathered so far.
    fn write_out(&mut self) -> Result<(), Error> {
        if !self.out.is_empty() {
            self.inner.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn seal_pending(&mut self) -> Result<(), Error> {
        let pending = std::mem::take(&mut self.pending);
        let result = self.seal_regular(&pending);
        // Reuse the (reserved) buffer.
        self.pending = pending;
        self.pending.clear();
        result
    }

    /// Seals `data` (whole frames) as regular frames and writes them.
    fn seal_regular(&mut self, data: &[u8]) -> Result<(), Error> {
        let frame_count = data.len() / self.frame_len;
        if frame_count == 0 {
            return Ok(());
        }
        if self.threads <= 1 || frame_count == 1 {
            self.drain_stash()?;
            // Sealed frames are gathered and written in large pieces: one write per frame
            // would cost a system call per 4 KiB with an unbuffered writer.
            for frame in data.chunks(self.frame_len) {
                self.encryptor.seal_frame(frame, &mut self.out)?;
                if self.out.len() >= OUT_BYTES {
                    self.write_out()?;
                }
            }
            return Ok(());
        }
        // Pipelined: while the threads seal this batch, this thread hashes (for the signature)
        // and writes the previous one, so a signed suite's SHA-384 overlaps the AES-GCM.
        let sealed_len = 4 + 12 + self.frame_len + 16;
        let stashed_frames = self.stash.iter().map(Vec::len).sum::<usize>() / sealed_len;
        let stashed = u32::try_from(stashed_frames).map_err(|_| too_many_frames())?;
        let first_seq = self
            .encryptor
            .next_sequence_number()
            .checked_add(stashed)
            .ok_or_else(too_many_frames)?;
        let per_thread = frame_count.div_ceil(self.threads);
        let frame_len = self.frame_len;
        let sealer = std::sync::Arc::clone(self.encryptor.sealer());
        let sealer = &*sealer;
        let (sealed, drained) = std::thread::scope(|scope| {
            let handles: Vec<_> = data
                .chunks(per_thread * frame_len)
                .enumerate()
                .map(|(t, group)| {
                    scope.spawn(move || {
                        let mut out = Vec::with_capacity(group.len() + 32 * per_thread);
                        for (i, frame) in group.chunks(frame_len).enumerate() {
                            let seq = u32::try_from(t * per_thread + i)
                                .ok()
                                .and_then(|offset| first_seq.checked_add(offset))
                                .ok_or_else(too_many_frames)?;
                            sealer.seal_regular(seq, frame, &mut out)?;
                        }
                        Ok(out)
                    })
                })
                .collect();
            let drained = self.drain_stash();
            let sealed: Vec<Result<Vec<u8>, Error>> = handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(Error::Internal("a sealing thread failed")))
                })
                .collect();
            (sealed, drained)
        });
        drained?;
        for group in sealed {
            self.stash.push(group?);
        }
        Ok(())
    }

    /// Hashes (through the encryptor) and writes the frames sealed by the threads for the
    /// previous batch, in order.
    fn drain_stash(&mut self) -> Result<(), Error> {
        self.write_out()?;
        let sealed_len = 4 + 12 + self.frame_len + 16;
        for group in std::mem::take(&mut self.stash) {
            for frame in group.chunks(sealed_len) {
                self.encryptor.append_sealed(frame)?;
            }
            self.inner.write_all(&group)?;
        }
        Ok(())
    }
}

fn too_many_frames() -> Error {
    Error::InvalidRequest("too many frames: use a larger frame length")
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.pending.capacity() < self.batch_len {
            // Reserved once, so the plaintext buffer never reallocates (no stray copies).
            self.pending.reserve_exact(self.batch_len);
        }
        // Whole batches straight from the caller's buffer when nothing is pending: no copy.
        if self.pending.is_empty() && data.len() >= self.batch_len {
            let n = data.len() / self.batch_len * self.batch_len;
            self.seal_regular(data.get(..n).unwrap_or_default())
                .map_err(io_error)?;
            return Ok(n);
        }
        let room = self.batch_len - self.pending.len();
        let n = room.min(data.len());
        self.pending
            .extend_from_slice(data.get(..n).unwrap_or_default());
        // A full batch is whole frames: regular frames, whatever follows.
        if self.pending.len() == self.batch_len {
            self.seal_pending().map_err(io_error)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain_stash().map_err(io_error)?;
        self.inner.flush()
    }
}

/// Reads the serialized header from `r`, field by field (refusing too many encrypted data keys
/// before reading them), and parses it.
fn read_header<R: Read>(r: &mut R, config: &DecryptConfig) -> Result<(Header, Vec<u8>), Error> {
    let mut raw = Vec::with_capacity(512);
    let take = |r: &mut R, raw: &mut Vec<u8>, n: usize| -> Result<(), Error> {
        let start = raw.len();
        raw.resize(start + n, 0);
        r.read_exact(raw.get_mut(start..).ok_or(Error::Truncated)?)
            .map_err(read_error)
    };
    fn last_u16(raw: &[u8]) -> usize {
        match raw {
            [.., a, b] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => 0,
        }
    }
    take(r, &mut raw, 1)?;
    let version = raw.first().copied().unwrap_or_default();
    match version {
        1 => take(r, &mut raw, 1 + 2 + 16)?,
        2 => take(r, &mut raw, 2 + 32)?,
        v => return Err(Error::UnsupportedVersion(v)),
    }
    take(r, &mut raw, 2)?;
    let aad_len = last_u16(&raw);
    take(r, &mut raw, aad_len)?;
    take(r, &mut raw, 2)?;
    let edks = last_u16(&raw);
    if let Some(max) = config.max_encrypted_data_keys
        && edks > usize::from(max.get())
    {
        return Err(Error::TooManyEncryptedDataKeys {
            count: edks,
            max: max.get(),
        });
    }
    for _ in 0..edks {
        for _ in 0..3 {
            take(r, &mut raw, 2)?;
            let len = last_u16(&raw);
            take(r, &mut raw, len)?;
        }
    }
    let rest = if version == 1 {
        1 + 4 + 1 + 4 + 12 + 16
    } else {
        1 + 4 + 32 + 16
    };
    take(r, &mut raw, rest)?;
    let header = Header::parse(&raw)?;
    if header.len != raw.len() {
        return Err(Error::Internal("header length mismatch"));
    }
    Ok((header, raw))
}

/// Decrypts a message read from `inner`, releasing plaintext as described in the module
/// documentation.
pub struct DecryptingReader<R: Read> {
    inner: R,
    header: Header,
    encryption_context: EncryptionContext,
    key: AesGcmKey,
    options: StreamOptions,
    verifier: Option<(EcdsaCurve, Vec<u8>, Hasher)>,
    next_seq: u32,
    /// Plaintext ready to be read, and the read position in its first frame.
    ready: VecDeque<SecretBytes>,
    ready_pos: usize,
    /// Plaintext held until the signature verifies, and its size.
    held: Vec<SecretBytes>,
    held_len: usize,
    threads: usize,
    done: bool,
    failed: bool,
    /// A failure met after some bytes of a read were copied, for the next read.
    error: Option<Error>,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads and verifies the header (so a wrong key or context fails here), ready to read the
    /// body.
    pub fn new(
        config: &DecryptConfig,
        keyring: &dyn Keyring,
        request: &DecryptRequest,
        options: StreamOptions,
        mut inner: R,
    ) -> Result<Self, Error> {
        let (header, raw) = read_header(&mut inner, config)?;
        let Opened {
            key,
            encryption_context,
            verification_key,
        } = open_header(config, keyring, request, &header, &raw)?;
        let verifier = match (header.suite.signature(), verification_key) {
            (Some(curve), Some(point)) => {
                let mut hasher = Hasher::new(curve.hash());
                hasher.update(&raw);
                Some((curve, point, hasher))
            }
            _ => None,
        };
        Ok(DecryptingReader {
            inner,
            header,
            encryption_context,
            key,
            options,
            verifier,
            next_seq: 1,
            ready: VecDeque::new(),
            ready_pos: 0,
            held: Vec::new(),
            held_len: 0,
            threads: 1,
            done: false,
            failed: false,
            error: None,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Opens frames on `threads` threads, a batch (about `threads` × 1 MiB, at least one
    /// frame per thread) at a time. What is released, and when, does not change.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The full encryption context: the header's plus the reproduced required pairs.
    pub fn encryption_context(&self) -> &EncryptionContext {
        &self.encryption_context
    }

    fn read_hashed(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::new();
        if n <= PREALLOCATED_READ {
            buf.resize(n, 0);
            self.inner.read_exact(&mut buf).map_err(read_error)?;
        } else {
            // A header may claim frames of up to 4 GiB: memory grows only with what arrives.
            (&mut self.inner)
                .take(n as u64)
                .read_to_end(&mut buf)
                .map_err(read_error)?;
            if buf.len() != n {
                return Err(Error::Truncated);
            }
        }
        if let Some((_, _, hasher)) = &mut self.verifier {
            hasher.update(&buf);
        }
        Ok(buf)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        self.inner.read_exact(&mut a).map_err(read_error)?;
        if let Some((_, _, hasher)) = &mut self.verifier {
            hasher.update(&a);
        }
        Ok(a)
    }

    fn read_u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.read_array()?))
    }

    fn read_iv(&mut self) -> Result<[u8; 12], Error> {
        self.read_array()
    }

    /// Reads `len` bytes of ciphertext and their tag and decrypts them in place.
    fn open(
        &mut self,
        iv: [u8; 12],
        aad: &[u8],
        len: usize,
        seq: u32,
    ) -> Result<SecretBytes, Error> {
        let sealed = self.read_hashed(len.saturating_add(16))?;
        self.key
            .open_in_place(iv, aad, sealed)
            .map_err(|_| Error::BodyAuthentication { sequence: seq })
    }

    fn hold(&mut self, frame: SecretBytes) -> Result<(), Error> {
        self.held_len = self.held_len.saturating_add(frame.len());
        if self.held_len > self.options.max_buffered {
            return Err(Error::BufferLimit(self.options.max_buffered));
        }
        self.held.push(frame);
        Ok(())
    }

    /// Reads regular frames starting with the one whose sequence number `first` was just
    /// read, up to a batch, opens them on several threads, and queues or holds their
    /// plaintext in order. Returns the last sequence field read: [`FINAL_FRAME_MARK`] if the
    /// final frame follows.
    fn advance_batch(&mut self, mut first: u32) -> Result<u32, Error> {
        let frame_len = self.header.frame_length;
        let len = usize::try_from(frame_len).map_err(|_| Error::Truncated)?;
        let batch_frames = self
            .threads
            .saturating_mul((PARALLEL_BYTES_PER_THREAD / len.max(1)).max(1));
        let mut batch = Vec::new();
        loop {
            if first != self.next_seq {
                return Err(Error::Malformed("frame out of sequence"));
            }
            let iv = self.read_iv()?;
            let sealed = self.read_hashed(len.saturating_add(16))?;
            batch.push((first, iv, sealed));
            self.next_seq = first
                .checked_add(1)
                .filter(|s| *s != FINAL_FRAME_MARK)
                .ok_or(Error::Malformed("too many frames"))?;
            if batch.len() >= batch_frames {
                break;
            }
            first = self.read_u32()?;
            if first == FINAL_FRAME_MARK {
                break;
            }
        }
        let per_thread = batch.len().div_ceil(self.threads);
        let key = &self.key;
        let message_id = &self.header.message_id;
        let mut groups = Vec::with_capacity(self.threads);
        let mut batch = batch.into_iter();
        loop {
            let group: Vec<_> = batch.by_ref().take(per_thread.max(1)).collect();
            if group.is_empty() {
                break;
            }
            groups.push(group);
        }
        let opened: Vec<Result<Vec<SecretBytes>, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|group| {
                    scope.spawn(move || {
                        group
                            .into_iter()
                            .map(|(seq, iv, sealed)| {
                                let aad =
                                    body_aad(message_id, FRAME_STRING, seq, u64::from(frame_len));
                                key.open_in_place(iv, &aad, sealed)
                                    .map_err(|_| Error::BodyAuthentication { sequence: seq })
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(Error::Internal("an opening thread failed")))
                })
                .collect()
        });
        let signed = self.verifier.is_some();
        for group in opened {
            for pt in group? {
                if signed && !self.options.allow_unverified_streaming {
                    self.hold(pt)?;
                } else {
                    self.ready.push_back(pt);
                }
            }
        }
        Ok(first)
    }

    /// Decrypts the next frame (or the whole non-framed body and the footer).
    fn advance(&mut self) -> Result<(), Error> {
        let signed = self.verifier.is_some();
        let frame_len = self.header.frame_length;
        let message_id = self.header.message_id.clone();
        let last = match self.header.content_type {
            ContentType::NonFramed => {
                let iv = self.read_iv()?;
                let len = u64::from_be_bytes(self.read_array()?);
                if len > MAX_NON_FRAMED_LEN {
                    return Err(Error::Malformed("non-framed content too long"));
                }
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= self.options.max_buffered)
                    .ok_or(Error::BufferLimit(self.options.max_buffered))?;
                let aad = body_aad(&message_id, SINGLE_BLOCK_STRING, 1, len as u64);
                self.open(iv, &aad, len, 1)?
            }
            ContentType::Framed => {
                let mut first = self.read_u32()?;
                if first != FINAL_FRAME_MARK && self.threads > 1 {
                    first = self.advance_batch(first)?;
                    if first != FINAL_FRAME_MARK {
                        return Ok(());
                    }
                }
                let expected = self.next_seq;
                if first != FINAL_FRAME_MARK {
                    if first != expected {
                        return Err(Error::Malformed("frame out of sequence"));
                    }
                    let iv = self.read_iv()?;
                    let aad = body_aad(&message_id, FRAME_STRING, first, u64::from(frame_len));
                    let len = usize::try_from(frame_len).map_err(|_| Error::Truncated)?;
                    let pt = self.open(iv, &aad, len, first)?;
                    self.next_seq = expected
                        .checked_add(1)
                        .filter(|s| *s != FINAL_FRAME_MARK)
                        .ok_or(Error::Malformed("too many frames"))?;
                    if signed && !self.options.allow_unverified_streaming {
                        self.hold(pt)?;
                    } else {
                        self.ready.push_back(pt);
                    }
                    return Ok(());
                }
                let seq = self.read_u32()?;
                if seq != expected {
                    return Err(Error::Malformed("final frame out of sequence"));
                }
                let iv = self.read_iv()?;
                let len = self.read_u32()?;
                if len > frame_len {
                    return Err(Error::Malformed("final frame longer than the frame length"));
                }
                let aad = body_aad(&message_id, FINAL_FRAME_STRING, seq, u64::from(len));
                let len = usize::try_from(len).map_err(|_| Error::Truncated)?;
                self.open(iv, &aad, len, seq)?
            }
        };
        if let Some((curve, point, hasher)) = self.verifier.take() {
            let mut len = [0u8; 2];
            self.inner.read_exact(&mut len).map_err(read_error)?;
            let mut sig = vec![0u8; usize::from(u16::from_be_bytes(len))];
            self.inner.read_exact(&mut sig).map_err(read_error)?;
            let ok = ecdsa_verify_prehashed(curve, &point, &hasher.finish(), &sig)
                .map_err(|_| Error::Malformed("aws-crypto-public-key is not a valid point"))?;
            if !ok {
                return Err(Error::Signature);
            }
        }
        let mut probe = [0u8; 1];
        if self.inner.read(&mut probe)? != 0 {
            return Err(Error::TrailingBytes);
        }
        self.ready.extend(self.held.drain(..));
        self.held_len = 0;
        self.ready.push_back(last);
        self.done = true;
        Ok(())
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    /// Fills `buf` with as many released frames as fit, so a large buffer gets large reads;
    /// an error after some bytes were copied is returned by the next call.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            if let Some(e) = self.error.take() {
                self.failed = true;
                return Err(io_error(e));
            }
            if self.failed {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the message failed to decrypt",
                ));
            }
            let room = buf.get_mut(filled..).unwrap_or_default();
            if room.is_empty() {
                return Ok(filled);
            }
            if let Some(front) = self.ready.front() {
                let avail = front
                    .expose_secret()
                    .get(self.ready_pos..)
                    .unwrap_or_default();
                let n = avail.len().min(room.len());
                if let (Some(dst), Some(src)) = (room.get_mut(..n), avail.get(..n)) {
                    dst.copy_from_slice(src);
                }
                filled += n;
                self.ready_pos += n;
                if self.ready_pos >= front.len() {
                    self.ready.pop_front();
                    self.ready_pos = 0;
                }
                continue;
            }
            if self.done {
                return Ok(filled);
            }
            if let Err(e) = self.advance() {
                self.held.clear();
                if filled == 0 {
                    self.failed = true;
                    return Err(io_error(e));
                }
                self.error = Some(e);
                return Ok(filled);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::decrypt::{ClientConfig, CommitmentPolicy};
    use crate::keyring::RawAesKeyring;
    use crate::{decrypt, encrypt};

    fn keyring() -> RawAesKeyring {
        RawAesKeyring::new("ns", "k", &SecretBytes::copy_from(&[5; 32])).unwrap()
    }

    fn request(suite: u16, frame_length: u32) -> EncryptRequest {
        EncryptRequest {
            suite: AlgorithmSuite::from_id(suite),
            frame_length,
            ..Default::default()
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 13 % 251) as u8).collect()
    }

    fn stream_encrypt(suite: u16, frame: u32, pt: &[u8], chunk: usize) -> Vec<u8> {
        let k = keyring();
        let mut w = EncryptingWriter::new(
            &ClientConfig::default(),
            &k,
            &request(suite, frame),
            Vec::new(),
        )
        .unwrap();
        for c in pt.chunks(chunk.max(1)) {
            w.write_all(c).unwrap();
        }
        w.finish().unwrap()
    }

    fn stream_decrypt(
        m: &[u8],
        options: StreamOptions,
        chunk: usize,
    ) -> Result<Vec<u8>, io::Error> {
        let k = keyring();
        let mut r = DecryptingReader::new(
            &ClientConfig::default(),
            &k,
            &DecryptRequest::default(),
            options,
            m,
        )
        .map_err(io_error)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn writer_and_reader_round_trip_in_any_chunking() {
        for suite in [0x0578, 0x0478] {
            for frame in [1u32, 16, 100] {
                for len in [0usize, 1, 15, 16, 17, 100, 333] {
                    let pt = data(len);
                    for chunk in [1usize, 7, 1000] {
                        let m = stream_encrypt(suite, frame, &pt, chunk);
                        // The same layout as the in-memory encryptor: readable by `decrypt`.
                        let out = decrypt(
                            &ClientConfig::default(),
                            &keyring(),
                            &DecryptRequest::default(),
                            &m,
                        )
                        .unwrap();
                        assert_eq!(out.plaintext.expose_secret(), pt.as_slice());
                        for opt_in in [false, true] {
                            let options = StreamOptions {
                                allow_unverified_streaming: opt_in,
                                ..Default::default()
                            };
                            assert_eq!(stream_decrypt(&m, options, chunk).unwrap(), pt);
                        }
                    }
                    // And the reader reads what `encrypt` writes.
                    let m = encrypt(
                        &ClientConfig::default(),
                        &keyring(),
                        &request(suite, frame),
                        &pt,
                    )
                    .unwrap()
                    .ciphertext;
                    assert_eq!(
                        stream_decrypt(&m, StreamOptions::default(), 64).unwrap(),
                        pt
                    );
                }
            }
        }
    }

    #[test]
    fn threads_write_the_same_bytes_as_one_thread() {
        for (suite, frame, len) in [
            (0x0478, 16u32, 0usize),
            (0x0478, 16, 16),
            (0x0478, 16, 17),
            (0x0478, 100, 250_000),
            (0x0578, 4096, 1_000_000),
            (0x0578, 1, 3_000),
            (0x0478, 4096, 4096 * 300),
            // Several batches (1 MiB of frames per thread), sealed while the previous one is
            // hashed and written.
            (0x0578, 4096, 9 * 1024 * 1024 + 5),
        ] {
            let pt = data(len);
            for (threads, chunk) in [(2usize, 70_001), (3, 70_001), (8, 70_001), (2, len.max(1))] {
                let k = keyring();
                let config = ClientConfig::default();
                let req = request(suite, frame);
                // The same materials for both runs: one encryptor's header and sealer.
                let reference = MessageEncryptor::new(&config, &k, &req).unwrap();
                let mut single = reference.header().to_vec();
                // Every full frame regular, the rest (possibly empty) final.
                let full = pt.len() / frame as usize * frame as usize;
                let mut seq = 1u32;
                for c in pt[..full].chunks(frame as usize) {
                    reference
                        .sealer()
                        .seal_regular(seq, c, &mut single)
                        .unwrap();
                    seq += 1;
                }
                reference
                    .sealer()
                    .seal_final(seq, &pt[full..], &mut single)
                    .unwrap();
                let mut w = EncryptingWriter::start(reference, Vec::new())
                    .unwrap()
                    .with_threads(threads);
                for c in pt.chunks(chunk) {
                    w.write_all(c).unwrap();
                }
                let parallel = w.finish().unwrap();
                // Identical up to the footer (ECDSA signatures are randomized).
                assert_eq!(
                    &parallel[..single.len()],
                    single.as_slice(),
                    "{suite:x} {frame} {len} {threads}"
                );
                let out =
                    decrypt(&config, &keyring(), &DecryptRequest::default(), &parallel).unwrap();
                assert_eq!(out.plaintext.expose_secret(), pt.as_slice());
            }
        }
    }

    #[test]
    fn threaded_decrypt_matches_and_detects_tampering() {
        for (suite, frame, len) in [
            (0x0578, 100u32, 0usize),
            (0x0578, 100, 100),
            (0x0578, 100, 250_000),
            (0x0478, 1, 5_000),
            (0x0478, 4096, 3_000_000),
        ] {
            let pt = data(len);
            let m = stream_encrypt(suite, frame, &pt, 65_536);
            for threads in [2usize, 3] {
                for opt_in in [false, true] {
                    let options = StreamOptions {
                        allow_unverified_streaming: opt_in,
                        max_buffered: usize::MAX,
                    };
                    let k = keyring();
                    let open = |msg: &[u8]| -> Result<Vec<u8>, io::Error> {
                        let mut r = DecryptingReader::new(
                            &ClientConfig::default(),
                            &k,
                            &DecryptRequest::default(),
                            options,
                            msg,
                        )
                        .map_err(io_error)?
                        .with_threads(threads);
                        let mut out = Vec::new();
                        r.read_to_end(&mut out)?;
                        Ok(out)
                    };
                    assert_eq!(open(&m).unwrap(), pt);
                    let mut bad = m.clone();
                    let at = bad.len() / 2;
                    bad[at] ^= 1;
                    assert!(open(&bad).is_err());
                    assert!(open(&m[..m.len() - 1]).is_err());
                }
            }
        }
    }

    #[test]
    fn signed_plaintext_waits_for_the_signature_unless_opted_in() {
        let pt = data(950);
        let m = stream_encrypt(0x0578, 100, &pt, 1000);
        let mut bad = m.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1; // the signature
        let k = keyring();
        let mut r = DecryptingReader::new(
            &ClientConfig::default(),
            &k,
            &DecryptRequest::default(),
            StreamOptions::default(),
            bad.as_slice(),
        )
        .unwrap();
        let mut buf = [0u8; 10];
        // Not one byte before the signature fails.
        assert!(r.read(&mut buf).is_err());
        assert!(r.read(&mut buf).is_err(), "stays failed");
        // Opted in: the frames arrive, the final one does not, and the end is an error.
        let options = StreamOptions {
            allow_unverified_streaming: true,
            ..Default::default()
        };
        let mut r = DecryptingReader::new(
            &ClientConfig::default(),
            &k,
            &DecryptRequest::default(),
            options,
            bad.as_slice(),
        )
        .unwrap();
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(got, pt[..900]);
        // An unsigned message streams frame by frame without the opt-in.
        let m = stream_encrypt(0x0478, 100, &pt, 1000);
        let mut cut = m[..m.len() - 20].to_vec();
        let mut r = DecryptingReader::new(
            &ClientConfig::default(),
            &k,
            &DecryptRequest::default(),
            StreamOptions::default(),
            cut.as_slice(),
        )
        .unwrap();
        let mut got = Vec::new();
        assert!(r.read_to_end(&mut got).is_err());
        assert_eq!(got, pt[..900]);
        cut.clear();
    }

    #[test]
    fn the_buffer_bound_applies_to_signed_messages_without_the_opt_in() {
        let pt = data(5000);
        let small = StreamOptions {
            allow_unverified_streaming: false,
            max_buffered: 1000,
        };
        let signed = stream_encrypt(0x0578, 100, &pt, 5000);
        let err = stream_decrypt(&signed, small, 100).unwrap_err();
        assert!(err.to_string().contains("held back"), "{err}");
        let opted = StreamOptions {
            allow_unverified_streaming: true,
            max_buffered: 1000,
        };
        assert_eq!(stream_decrypt(&signed, opted, 100).unwrap(), pt);
        let unsigned = stream_encrypt(0x0478, 100, &pt, 5000);
        assert_eq!(stream_decrypt(&unsigned, small, 100).unwrap(), pt);
    }

    #[test]
    fn malformed_streams_fail() {
        let pt = data(300);
        for suite in [0x0578, 0x0478] {
            let m = stream_encrypt(suite, 64, &pt, 300);
            for len in 0..m.len() {
                assert!(
                    stream_decrypt(&m[..len], StreamOptions::default(), 50).is_err(),
                    "truncated to {len}"
                );
            }
            let mut longer = m.clone();
            longer.push(0);
            assert!(stream_decrypt(&longer, StreamOptions::default(), 50).is_err());
            for i in (0..m.len()).step_by(7) {
                let mut t = m.clone();
                t[i] ^= 4;
                assert!(
                    stream_decrypt(&t, StreamOptions::default(), 50).is_err(),
                    "flip {i}"
                );
            }
        }
        // Too many EDKs are refused from the stream before the keys are read.
        let config = ClientConfig {
            commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
            max_encrypted_data_keys: std::num::NonZeroU16::new(1),
        };
        let two = crate::keyring::MultiKeyring::new(
            Some(Box::new(keyring())),
            vec![Box::new(
                RawAesKeyring::new("ns", "k2", &SecretBytes::copy_from(&[6; 32])).unwrap(),
            )],
        );
        let m = encrypt(&ClientConfig::default(), &two, &request(0x0478, 64), &pt)
            .unwrap()
            .ciphertext;
        let open = |config: &ClientConfig| {
            DecryptingReader::new(
                config,
                &keyring(),
                &DecryptRequest::default(),
                StreamOptions::default(),
                m.as_slice(),
            )
        };
        assert!(matches!(
            open(&config),
            Err(Error::TooManyEncryptedDataKeys { count: 2, max: 1 })
        ));
        assert!(open(&ClientConfig::default()).is_ok());
    }
}
