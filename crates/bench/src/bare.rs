//! The reference: a bare hyper server on the same HTTP stack and settings as Trent (hyper-util's
//! auto builder, HTTP/1.1 keep-alive, header read timeout, TCP_NODELAY, a multi-threaded
//! runtime), which reads each request body and answers 200 with fixed bytes shaped like a real
//! Encrypt response. Whatever Trent costs beyond this is Trent's own work.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::io::Write as _;
use tokio::net::TcpListener;

use crate::client::JSON_1_1;

/// The length of Trent's ciphertext blob for `plaintext_len` bytes under a key with a UUID key
/// id, account `000000000000` and region `us-east-1`: version (1), three length-prefixed names
/// (1+12, 1+9, 1+36), material id (32), salt (16), nonce (12), header check (4), ciphertext,
/// tag (16). For exact bytes, replay a saved real response (`--response-file`).
pub fn blob_len(plaintext_len: usize) -> usize {
    1 + (1 + 12) + (1 + 9) + (1 + 36) + 32 + 16 + 12 + 4 + plaintext_len + 16
}

/// A body the same length and shape as Trent's Encrypt response for `plaintext_len` bytes.
pub fn synthetic_encrypt_response(plaintext_len: usize) -> Bytes {
    let blob = vec![0x5au8; blob_len(plaintext_len)];
    let body = serde_json::json!({
        "CiphertextBlob": base64::engine::general_purpose::STANDARD.encode(blob),
        "KeyId": "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-000000000000",
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    });
    // serde_json's map is sorted; field order does not change the size.
    Bytes::from(body.to_string())
}

/// Serves `body` to every request on `addr` until the process is stopped. Prints the bound
/// address as the first line of stdout.
pub async fn serve(addr: SocketAddr, body: Bytes) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{local}")?;
        out.flush()?;
    }
    eprintln!(
        "bare server on {local}: answering every request with {} bytes",
        body.len()
    );
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .keep_alive(true);
    let builder = Arc::new(builder);
    // The same per-response headers as Trent: content type and a 36-character request id.
    let request_id = HeaderValue::from_static("00000000-0000-4000-8000-000000000000");
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let request_id = request_id.clone();
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    let request_id = request_id.clone();
                    async move {
                        // Read the request completely, as Trent does before authenticating.
                        let _ = req.into_body().collect().await;
                        let mut resp = Response::new(Full::new(body));
                        let h = resp.headers_mut();
                        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_1_1));
                        h.insert("x-amzn-requestid", request_id);
                        Ok::<_, Infallible>(resp)
                    }
                });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
