//! The AWS Encryption SDK message format: encryption and decryption.
//!
//! # What is implemented
//!
//! - **Message format v1 and v2**: the header with every field (encryption context, encrypted
//!   data keys, content type, reserved field, IV length, frame length, v2 commitment key), the
//!   header authentication tag (including the required encryption context appended to its
//!   AAD), framed bodies (regular and final frames, empty final frames, sequence numbers, frame
//!   AAD), non-framed bodies, and the footer signature (ECDSA P-256/SHA-256 and
//!   P-384/SHA-384 over the header and body, any valid DER length).
//! - **All eleven algorithm suites** for decryption ([`AlgorithmSuite`]): AES-128/192/256-GCM,
//!   the identity KDF, HKDF-SHA-256/384 (v1), and HKDF-SHA-512 with key commitment (0x0478,
//!   0x0578), the commitment compared in constant time before the header tag.
//! - **Encryption** ([`encrypt`], [`MessageEncryptor`]): any suite the commitment policy allows
//!   (0x0578 by default; v1 suites only under FORBID_ENCRYPT_ALLOW_DECRYPT, 0x0378 by default
//!   there), always framed with a configurable frame length (default 4,096; the last chunk,
//!   full or empty, is the final frame), random message IDs, frame IVs from the sequence
//!   number, an ephemeral ECDSA key per signed message (its compressed point stored as
//!   `aws-crypto-public-key`) and the footer signature. User contexts with `aws-crypto-` keys
//!   are refused; more encrypted data keys than the client maximum is an error.
//!   [`MessageEncryptor`] writes the header and then one frame at a time, and its
//!   [`FrameSealer`] may seal frames on other threads.
//! - **Async streaming** (`asynchronous`, feature `tokio`, on by default): `encrypt_async`
//!   and `decrypt_async` between tokio `AsyncRead`/`AsyncWrite`, through the same streaming
//!   adapters on a blocking thread with bounded channels.
//! - **Materials managers** ([`materials`]): the default one (a fresh data key and signing
//!   key per message from a keyring) and the **caching** one ([`CachingMaterialsManager`]):
//!   materials reused for the same suite and context within a maximum age, message count and
//!   byte count, in a named partition, with an LRU capacity; identity-KDF suites and messages of
//!   unknown size are not cached; evicted entries are zeroized.
//! - **Streaming** ([`stream`]): [`EncryptingWriter`] (`Write`) and [`DecryptingReader`]
//!   (`Read`) with bounded memory. A signed message's plaintext is released only after the
//!   signature verifies (held up to [`StreamOptions::max_buffered`], 16 MiB by default; more
//!   is an error) unless the caller opts in to unverified streaming, which still holds back the
//!   final frame. `EncryptingWriter::with_threads` seals batches of frames on several threads
//!   with byte-identical output.
//! - **Keyrings** ([`keyring`]): raw AES (128/192/256-bit wrapping keys), raw RSA (PKCS#1 v1.5
//!   and OAEP with SHA-1/256/384/512; encrypt-only from a public key), and the multi-keyring
//!   (a generator makes the data key and every child wraps it; on decrypt the first to
//!   succeed wins).
//! - **Decrypt settings** ([`DecryptConfig`], [`DecryptRequest`]): the three commitment
//!   policies (REQUIRE_ENCRYPT_REQUIRE_DECRYPT by default), the maximum number of encrypted data
//!   keys (checked before any keyring runs), the reproduced encryption context as the default
//!   materials manager checks it, and the required-encryption-context keys. On encrypt
//!   ([`EncryptRequest`]) the required keys' pairs are authenticated in the header tag but not
//!   stored.
//!
//! # What is not implemented yet
//!
//! - The raw ECDH and hierarchical keyrings. (The **AWS KMS keyring** is in the
//!   `trent-esdk-kms` crate, which brings the HTTP client.)
//!
//! # Layout
//!
//! `suite` (the suite table), `context` (encryption context encoding), `header` (parsing and
//! writing), `keyring` (data-key generation, wrapping and recovery), `decrypt` (key
//! derivation, commitment, header tag, body, footer), `encrypt` (the writer). Every cryptographic primitive comes from `trent-crypto`; this crate never touches
//! aws-lc-rs. All input is read through a bounds-checked reader, so malformed messages are
//! errors, never panics.
//!
//! # Tests
//!
//! Unit tests sit beside the code (suite table, context encoding, keyrings, policies, the EDK
//! limit, every flipped bit and truncation of two embedded messages; every suite round-trips
//! at the frame-length edges, and flipped bytes, truncations, swapped frames and a wrong
//! context fail). `tests/roundtrip.rs` holds property tests (random sizes, frame lengths,
//! contexts and suites; any flipped bit). The vector tests decrypt every vector both in
//! memory and through [`DecryptingReader`] and require the two to agree. `tests/vectors.rs` runs
//! the offline decrypt vectors in `../shared/esdk-vectors` (override with
//! `TRENT_ESDK_VECTORS`): 900 legacy Python 1.3.0, 187 Dafny 4.1.0 raw AES/RSA (multi-keyring
//! and required-context CMM included), 104 ESDK-NET positive and 28 ESDK-NET 4.0.0 negative
//! vectors, 46 key-commitment vectors (5 negative) and 18 decrypt-oracle vectors. The raw ECDH
//! (99) and hierarchical-keyring (11) vectors are skipped and counted; the vectors needing AWS
//! KMS were left out of the directory itself. Without the directory the tests print why and
//! skip.
//!
//! ```no_run
//! use trent_esdk::{decrypt, DecryptConfig, DecryptRequest, keyring::RawAesKeyring};
//! use trent_crypto::SecretBytes;
//!
//! # fn main() -> Result<(), trent_esdk::Error> {
//! # let wrapping_key = SecretBytes::copy_from(&[0; 32]); let message: Vec<u8> = Vec::new();
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", &wrapping_key)?;
//! let out = decrypt(&DecryptConfig::default(), &keyring, &DecryptRequest::default(), &message)?;
//! let plaintext = out.plaintext.expose_secret();
//! # let _ = plaintext; Ok(()) }
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "tokio")]
pub mod asynchronous;
pub mod context;
mod decrypt;
mod encrypt;
mod header;
pub mod keyring;
pub mod materials;
mod reader;
pub mod stream;
mod suite;

pub use context::EncryptionContext;
pub use decrypt::{
    ClientConfig, CommitmentPolicy, DecryptConfig, DecryptRequest, Decrypted, decrypt,
};
pub use encrypt::{
    EncryptConfig, EncryptRequest, Encrypted, FrameSealer, MessageEncryptor, encrypt,
};
pub use header::{ContentType, Header};
pub use materials::{
    CacheLimits, CachingMaterialsManager, DefaultMaterialsManager, MaterialsManager,
};
pub use stream::{DecryptingReader, EncryptingWriter, StreamOptions};
pub use suite::{AlgorithmSuite, Kdf};

/// Why a message could not be decrypted. Messages never include key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message ended before a field did.
    #[error("message is truncated")]
    Truncated,
    /// A field has a value the format does not allow.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("unsupported message format version {0}")]
    UnsupportedVersion(u8),
    /// Not an ESDK algorithm suite, or not one of this message format version.
    #[error("unsupported algorithm suite 0x{0:04x}")]
    UnsupportedSuite(u16),
    /// The commitment policy forbids decrypting this suite.
    #[error("algorithm suite 0x{0:04x} is not allowed by the commitment policy")]
    CommitmentPolicy(u16),
    #[error("message has {count} encrypted data keys, more than the maximum of {max}")]
    TooManyEncryptedDataKeys { count: usize, max: u16 },
    /// The reproduced encryption context disagrees with the header on this key's value.
    #[error("encryption context value for key {0:?} does not match the message")]
    EncryptionContextMismatch(String),
    /// A required encryption context key was not reproduced, or is stored in the header.
    #[error("required encryption context key {0:?} is missing or stored in the message")]
    RequiredEncryptionContextKey(String),
    #[error("encryption context is larger than 65,535 bytes")]
    EncryptionContextTooLarge,
    /// No keyring could decrypt any of the message's encrypted data keys.
    #[error("no encrypted data key could be decrypted")]
    NoDecryptableDataKey,
    /// The data key does not match the message's key commitment.
    #[error("key commitment validation failed")]
    KeyCommitment,
    #[error("header authentication failed")]
    HeaderAuthentication,
    #[error("authentication of frame {sequence} failed")]
    BodyAuthentication { sequence: u32 },
    #[error("footer signature does not verify")]
    Signature,
    #[error("unexpected bytes after the message")]
    TrailingBytes,
    /// A keyring was given an unusable key or name.
    #[error("invalid keyring: {0}")]
    InvalidKeyring(&'static str),
    #[error("cryptographic failure")]
    Crypto(#[from] trent_crypto::Error),
    /// An encryption request the format or the client settings do not allow.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A caller's encryption context uses a key starting with `aws-crypto-`.
    #[error("encryption context key {0:?} is reserved (keys starting with aws-crypto-)")]
    ReservedEncryptionContextKey(String),
    /// The keyrings produced more encrypted data keys than the client allows.
    #[error("encryption produced {count} encrypted data keys, more than the maximum of {max}")]
    TooManyEncryptedDataKeysOnEncrypt { count: usize, max: u16 },
    /// A key provider (such as KMS) failed; the message names the provider's error.
    #[error("key provider error: {0}")]
    KeyProvider(String),
    /// A streaming decrypt would have to hold back more plaintext than its bound.
    #[error("more than {0} bytes of plaintext would be held back before verification")]
    BufferLimit(usize),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(&'static str),
}
