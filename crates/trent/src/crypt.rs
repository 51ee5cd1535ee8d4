//! `trent encrypt` and `trent decrypt`: the Encryption SDK message format on files,
//! directories and standard input/output.
//!
//! Exit codes (also in `--help` and docs/encryption-sdk.md):
//! 0 success; 1 a message could not be encrypted or decrypted (wrong key, tampering, policy,
//! context mismatch); 2 invalid arguments, key files or encryption context; 3 an I/O error
//! (missing input, unwritable output). Output files are written to a temporary file beside the destination
//! and renamed into place only once the whole message is done, so a failure leaves no partial
//! output.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::ValueEnum;
use trent_crypto::SecretBytes;
use trent_esdk::keyring::{Keyring, MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding};
use trent_esdk::{
    AlgorithmSuite, ClientConfig, CommitmentPolicy, DecryptRequest, DecryptingReader,
    EncryptRequest, EncryptingWriter, EncryptionContext, Header, StreamOptions,
};

/// The exit codes a script can rely on.
pub const EXIT_CRYPTO: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_IO: i32 = 3;

pub const EXIT_CODES_HELP: &str = "Exit codes: 0 success; 1 a message could not be encrypted or \
decrypted (wrong key, tampering, commitment policy, encryption context mismatch); 2 invalid \
arguments, key files or encryption context (reserved aws-crypto- keys); 3 an I/O error \
(missing input, unwritable output). With several inputs processing stops at the first failure. \
A failed output file is never left behind: output is written to a temporary file and renamed into place. \
An existing device or pipe given as output (/dev/null, a FIFO) is written in place instead, as standard \
output is.";

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message: message.into(),
    }
}

fn io_failure(what: &str, path: &Path, e: &io::Error) -> Failure {
    Failure {
        code: EXIT_IO,
        message: format!("{what} {}: {e}", path.display()),
    }
}

fn crypto(path: &str, e: &trent_esdk::Error) -> Failure {
    let code = match e {
        trent_esdk::Error::Io(_) => EXIT_IO,
        trent_esdk::Error::ReservedEncryptionContextKey(_)
        | trent_esdk::Error::InvalidRequest(_)
        | trent_esdk::Error::InvalidKeyring(_) => EXIT_USAGE,
        _ => EXIT_CRYPTO,
    };
    Failure {
        code,
        message: format!("{path}: {e}"),
    }
}

/// The commitment policies, named as the AWS SDKs and CLI name them.
#[derive(Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)]
pub enum Policy {
    RequireEncryptRequireDecrypt,
    RequireEncryptAllowDecrypt,
    ForbidEncryptAllowDecrypt,
}

#[derive(clap::Args)]
pub struct CommonArgs {
    /// Input: a file, a directory (with --recursive), or `-` for standard input.
    #[arg(short, long)]
    input: String,

    /// Output: a file, a directory, or `-` for standard output. For a directory input, an
    /// existing or new directory.
    #[arg(short, long)]
    output: String,

    /// A wrapping key group. AWS KMS (the default provider): `key=<key ARN, key ID, alias name
    /// or alias ARN> [region=<r>] [profile=<p>] [endpoint=<url>]`, or for decrypt
    /// `discovery=true [discovery-partition=<aws> discovery-account=<id,id...>] [region=<r>]`.
    /// Raw keys: `provider=raw-aes key=<file> namespace=<ns> [name=<name>]` (a
    /// file of 16, 24 or 32 raw bytes) or `provider=raw-rsa key=<file> namespace=<ns>
    /// [name=<name>] padding=<pkcs1|oaep-sha1|oaep-sha256|oaep-sha384|oaep-sha512>` (a PEM or
    /// DER PKCS#8 private key, or a SubjectPublicKeyInfo public key to encrypt only). The
    /// name defaults to the file name. Repeat the flag for more keys (a new key starts where
    /// a field repeats): on encrypt the first generates the data key and every one wraps it;
    /// on decrypt any one may open it.
    #[arg(short = 'w', long = "wrapping-keys", num_args = 1.., required = true)]
    wrapping_keys: Vec<String>,

    /// Encryption context pairs `key=value`. On decrypt the pairs must match the message
    /// (pairs the message does not store are its required context), and a bare `key` must be
    /// present.
    #[arg(short = 'c', long = "encryption-context", num_args = 1..)]
    encryption_context: Vec<String>,

    #[arg(long, value_enum, default_value = "require-encrypt-require-decrypt")]
    commitment_policy: Policy,

    /// Refuse messages with more encrypted data keys (decrypt), or fail to write them
    /// (encrypt).
    #[arg(long)]
    max_encrypted_data_keys: Option<NonZeroU16>,

    /// Process every file under a directory input.
    #[arg(short, long)]
    recursive: bool,

    /// The KMS endpoint for AWS KMS wrapping keys without `endpoint=` (default:
    /// AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, else AWS's endpoint for the key's Region).
    #[arg(long)]
    kms_endpoint: Option<String>,

    /// Suffix of output files named after their input (default `.encrypted` / `.decrypted`).
    #[arg(long)]
    suffix: Option<String>,

    /// Append one JSON line of metadata (input, output, header) per message to this file, or
    /// `-` for standard output.
    #[arg(long)]
    metadata_output: Option<String>,
}

#[derive(clap::Args)]
pub struct EncryptArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Plaintext bytes per frame.
    #[arg(long, default_value_t = 4096)]
    frame_length: u32,

    /// The algorithm suite, by name (e.g. AES_256_GCM_HKDF_SHA512_COMMIT_KEY) or ID (0x0478).
    /// Default: AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (0x0578), or
    /// AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384 (0x0378) when commitment is forbidden.
    #[arg(long)]
    algorithm: Option<String>,

    /// Encryption context keys to authenticate without storing them in the message (the
    /// required-encryption-context materials manager): decrypt must supply their pairs.
    #[arg(long, num_args = 1..)]
    required_encryption_context_keys: Vec<String>,

    /// Threads sealing frames (the output is byte-for-byte what one thread writes).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,

    /// Reuse data keys between the messages of this run (the caching materials manager):
    /// `capacity=<entries> max_age=<seconds> [max_messages_encrypted=<n>]
    /// [max_bytes_encrypted=<n>] [partition=<name>]`. Standard input (unknown size) is not
    /// cached.
    #[arg(long, num_args = 1..)]
    caching: Vec<String>,
}

#[derive(clap::Args)]
pub struct DecryptArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Only decrypt unsigned messages, streaming each frame as it verifies.
    #[arg(long)]
    decrypt_unsigned: bool,

    /// When writing to standard output (or a device or pipe), the most plaintext of a signed
    /// message held back until its signature verifies (bytes). Files are never limited: they
    /// are only renamed into place after verification.
    #[arg(long, default_value_t = 64 << 20)]
    max_buffered_bytes: usize,

    /// Threads opening frames.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

const SUITE_NAMES: [(&str, u16); 11] = [
    ("AES_128_GCM_IV12_TAG16", 0x0014),
    ("AES_192_GCM_IV12_TAG16", 0x0046),
    ("AES_256_GCM_IV12_TAG16", 0x0078),
    ("AES_128_GCM_IV12_TAG16_HKDF_SHA256", 0x0114),
    ("AES_192_GCM_IV12_TAG16_HKDF_SHA256", 0x0146),
    ("AES_256_GCM_IV12_TAG16_HKDF_SHA256", 0x0178),
    ("AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", 0x0214),
    ("AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 0x0346),
    ("AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", 0x0378),
    ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY", 0x0478),
    ("AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", 0x0578),
];

fn suite_name(suite: AlgorithmSuite) -> &'static str {
    SUITE_NAMES
        .iter()
        .find(|(_, id)| *id == suite.id())
        .map_or("UNKNOWN", |(n, _)| n)
}

fn parse_suite(s: &str) -> Result<AlgorithmSuite, Failure> {
    let id = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => SUITE_NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, id)| *id),
    };
    id.and_then(AlgorithmSuite::from_id)
        .ok_or_else(|| usage(format!("unknown algorithm suite {s:?}")))
}

fn config(common: &CommonArgs) -> ClientConfig {
    ClientConfig {
        commitment_policy: match common.commitment_policy {
            Policy::RequireEncryptRequireDecrypt => CommitmentPolicy::RequireEncryptRequireDecrypt,
            Policy::RequireEncryptAllowDecrypt => CommitmentPolicy::RequireEncryptAllowDecrypt,
            Policy::ForbidEncryptAllowDecrypt => CommitmentPolicy::ForbidEncryptAllowDecrypt,
        },
        max_encrypted_data_keys: common.max_encrypted_data_keys,
    }
}

/// Pairs `k=v`, and bare keys (allowed only when `bare_ok`).
fn parse_context(
    items: &[String],
    bare_ok: bool,
) -> Result<(EncryptionContext, Vec<String>), Failure> {
    let mut pairs = EncryptionContext::new();
    let mut bare = Vec::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                if pairs.insert(k.to_owned(), v.to_owned()).is_some() {
                    return Err(usage(format!("encryption context key {k:?} given twice")));
                }
            }
            None if bare_ok && !item.is_empty() => bare.push(item.clone()),
            _ => {
                return Err(usage(format!(
                    "encryption context entry {item:?} is not key=value"
                )));
            }
        }
    }
    Ok((pairs, bare))
}

fn read_key_file(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| io_failure("cannot read key file", Path::new(path), &e))
}

/// The DER inside a PEM block with this label, if `bytes` is PEM.
fn pem_block(bytes: &[u8], label: &str) -> Option<Result<Vec<u8>, Failure>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = text.get(start..)?.find(&end)? + start;
    let b64: String = text
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| usage(format!("the {label} PEM block is not base64"))),
    )
}

fn kms_keyring(
    fields: &BTreeMap<&str, &str>,
    kms_endpoint: Option<&str>,
) -> Result<Box<dyn Keyring + Send + Sync>, Failure> {
    use trent_esdk_kms::{ClientSettings, DiscoveryFilter, KmsKeyring};
    let allowed = [
        "provider",
        "key",
        "region",
        "profile",
        "endpoint",
        "discovery",
        "discovery-partition",
        "discovery-account",
    ];
    if let Some(extra) = fields.keys().find(|k| !allowed.contains(k)) {
        return Err(usage(format!(
            "wrapping key field {extra:?} does not apply to aws-kms"
        )));
    }
    let settings = ClientSettings {
        profile: fields.get("profile").map(|p| (*p).to_owned()),
        endpoint: fields
            .get("endpoint")
            .copied()
            .or(kms_endpoint)
            .map(str::to_owned),
        region: fields.get("region").map(|r| (*r).to_owned()),
        ..ClientSettings::from_env()
    };
    let bad = |e: trent_esdk::Error| usage(e.to_string());
    match (fields.get("discovery").copied(), fields.get("key")) {
        (Some("true"), None) => {
            let filter = match (
                fields.get("discovery-partition"),
                fields.get("discovery-account"),
            ) {
                (None, None) => None,
                (Some(p), Some(a)) => Some(DiscoveryFilter {
                    partition: (*p).to_owned(),
                    accounts: a.split(',').map(str::to_owned).collect(),
                }),
                _ => {
                    return Err(usage(
                        "a discovery filter needs both discovery-partition and discovery-account",
                    ));
                }
            };
            let region = fields.get("region").map(|r| (*r).to_owned());
            Ok(Box::new(
                KmsKeyring::discovery(filter, region, settings).map_err(bad)?,
            ))
        }
        (None | Some("false"), Some(key)) => {
            if fields.contains_key("discovery-partition")
                || fields.contains_key("discovery-account")
            {
                return Err(usage("discovery filters apply only with discovery=true"));
            }
            Ok(Box::new(
                KmsKeyring::strict(vec![(*key).to_owned()], settings).map_err(bad)?,
            ))
        }
        (Some("true"), Some(_)) => Err(usage("discovery=true takes no key=")),
        (None | Some("false"), None) => Err(usage("an aws-kms wrapping key needs key=")),
        (Some(other), _) => Err(usage(format!("discovery={other:?} is not true or false"))),
    }
}

fn keyring_from_group(
    group: &[String],
    kms_endpoint: Option<&str>,
) -> Result<Box<dyn Keyring + Send + Sync>, Failure> {
    let mut fields = BTreeMap::new();
    for item in group {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| usage(format!("wrapping key field {item:?} is not name=value")))?;
        if fields.insert(k, v).is_some() {
            return Err(usage(format!("wrapping key field {k:?} given twice")));
        }
        if v.is_empty() {
            return Err(usage(format!("wrapping key field {k:?} is empty")));
        }
    }
    let field = |name: &str| -> Result<&str, Failure> {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| usage(format!("wrapping key group {group:?} has no {name}=")))
    };
    let provider = fields.get("provider").copied().unwrap_or("aws-kms");
    if provider == "aws-kms" {
        return kms_keyring(&fields, kms_endpoint);
    }
    let path = field("key")?;
    let namespace = field("namespace")?;
    let default_name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = fields.get("name").copied().unwrap_or(&default_name);
    let allowed: &[&str] = match provider {
        "raw-aes" => &["provider", "key", "namespace", "name"],
        "raw-rsa" => &["provider", "key", "namespace", "name", "padding"],
        other => {
            return Err(usage(format!(
                "unknown wrapping key provider {other:?} (aws-kms, raw-aes or raw-rsa)"
            )));
        }
    };
    if let Some(extra) = fields.keys().find(|k| !allowed.contains(k)) {
        return Err(usage(format!(
            "wrapping key field {extra:?} does not apply to {provider}"
        )));
    }
    let bad_key = |e: trent_esdk::Error| usage(format!("key file {path}: {e}"));
    let bytes = SecretBytes::new(read_key_file(path)?);
    if provider == "raw-aes" {
        return Ok(Box::new(
            RawAesKeyring::new(namespace, name, &bytes).map_err(bad_key)?,
        ));
    }
    let padding = match field("padding")? {
        "pkcs1" => RsaPadding::Pkcs1,
        "oaep-sha1" => RsaPadding::OaepSha1,
        "oaep-sha256" => RsaPadding::OaepSha256,
        "oaep-sha384" => RsaPadding::OaepSha384,
        "oaep-sha512" => RsaPadding::OaepSha512,
        other => return Err(usage(format!("unknown RSA padding {other:?}"))),
    };
    if let Some(der) = pem_block(bytes.expose_secret(), "PRIVATE KEY") {
        let der = SecretBytes::new(der?);
        return Ok(Box::new(
            RawRsaKeyring::new(namespace, name, &der, padding).map_err(bad_key)?,
        ));
    }
    if let Some(der) = pem_block(bytes.expose_secret(), "PUBLIC KEY") {
        return Ok(Box::new(
            RawRsaKeyring::public_only(namespace, name, &der?, padding).map_err(bad_key)?,
        ));
    }
    if pem_block(bytes.expose_secret(), "RSA PRIVATE KEY").is_some() {
        return Err(usage(format!(
            "key file {path}: PKCS#1 RSA keys are not read; convert with \
             `openssl pkcs8 -topk8 -nocrypt`"
        )));
    }
    RawRsaKeyring::new(namespace, name, &bytes, padding)
        .map(|k| Box::new(k) as Box<dyn Keyring + Send + Sync>)
        .or_else(|_| {
            RawRsaKeyring::public_only(namespace, name, bytes.expose_secret(), padding)
                .map(|k| Box::new(k) as Box<dyn Keyring + Send + Sync>)
        })
        .map_err(|_| {
            usage(format!(
                "key file {path}: not a PEM or DER PKCS#8 RSA private key or SubjectPublicKeyInfo"
            ))
        })
}

/// Splits the wrapping-key fields into one group per key: a group ends where a field name
/// repeats.
fn key_groups(fields: &[String]) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for field in fields {
        let name = field.split_once('=').map_or(field.as_str(), |(k, _)| k);
        let repeats = current
            .iter()
            .any(|f| f.split_once('=').map_or(f.as_str(), |(k, _)| k) == name);
        if repeats {
            groups.push(std::mem::take(&mut current));
        }
        current.push(field.clone());
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

fn keyring(common: &CommonArgs) -> Result<MultiKeyring, Failure> {
    let groups = key_groups(&common.wrapping_keys);
    let mut groups = groups.iter();
    let generator = groups
        .next()
        .ok_or_else(|| usage("no --wrapping-keys"))
        .and_then(|g| keyring_from_group(g, common.kms_endpoint.as_deref()))?;
    let children = groups
        .map(|g| keyring_from_group(g, common.kms_endpoint.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(MultiKeyring::new(Some(generator), children))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Encrypt,
    Decrypt,
}

/// One input and where its output goes.
struct Job {
    input: Option<PathBuf>,
    output: Option<PathBuf>,
}

fn display(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or_else(|| "-".to_owned(), |p| p.display().to_string())
}

fn plan(common: &CommonArgs, mode: Mode) -> Result<Vec<Job>, Failure> {
    let suffix = common.suffix.clone().unwrap_or_else(|| {
        match mode {
            Mode::Encrypt => ".encrypted",
            Mode::Decrypt => ".decrypted",
        }
        .to_owned()
    });
    let named = |dir: &Path, file: &Path| -> PathBuf {
        let mut name = file.file_name().unwrap_or_default().to_os_string();
        name.push(&suffix);
        dir.join(name)
    };
    if common.input == "-" {
        let output = (common.output != "-").then(|| PathBuf::from(&common.output));
        if output.as_ref().is_some_and(|o| o.is_dir()) {
            return Err(usage(
                "standard input needs an output file or -, not a directory",
            ));
        }
        return Ok(vec![Job {
            input: None,
            output,
        }]);
    }
    let input = PathBuf::from(&common.input);
    let meta = std::fs::metadata(&input).map_err(|e| io_failure("cannot read", &input, &e))?;
    if meta.is_dir() {
        if !common.recursive {
            return Err(usage(format!(
                "{} is a directory: pass --recursive",
                input.display()
            )));
        }
        if common.output == "-" {
            return Err(usage("a directory input needs an output directory"));
        }
        let out_root = PathBuf::from(&common.output);
        if out_root.exists() && !out_root.is_dir() {
            return Err(usage(format!("{} is not a directory", out_root.display())));
        }
        let mut jobs = Vec::new();
        let mut stack = vec![input.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries = std::fs::read_dir(&dir)
                .map_err(|e| io_failure("cannot read directory", &dir, &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| io_failure("cannot read directory", &dir, &e))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| io_failure("cannot read", &path, &e))?;
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let rel = path
                        .parent()
                        .and_then(|p| p.strip_prefix(&input).ok())
                        .unwrap_or(Path::new(""));
                    jobs.push(Job {
                        output: Some(named(&out_root.join(rel), &path)),
                        input: Some(path),
                    });
                }
            }
        }
        return Ok(jobs);
    }
    let output = if common.output == "-" {
        None
    } else {
        let out = PathBuf::from(&common.output);
        Some(if out.is_dir() {
            named(&out, &input)
        } else {
            out
        })
    };
    Ok(vec![Job {
        input: Some(input),
        output,
    }])
}

/// Bytes read from an input file, and written to an output file, per system call: whole
/// batches of frames reach the encryptor straight from the read buffer.
const READ_BUFFER: usize = 1 << 20;

/// Where a message goes: standard output, a temporary file renamed into place on success, or
/// an existing device or pipe, written in place.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    File(BufWriter<tempfile::NamedTempFile>, PathBuf),
    InPlace(BufWriter<std::fs::File>, PathBuf),
}

/// Whether `path` names an existing device, pipe or socket (through any symbolic links): it is
/// written in place, as standard output is. Renaming a file over it would replace it — over
/// `/dev/null`, for everyone on the machine.
fn writes_in_place(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

impl Sink {
    fn open(output: &Option<PathBuf>) -> Result<Sink, Failure> {
        let Some(path) = output else {
            return Ok(Sink::Stdout(io::stdout().lock()));
        };
        if writes_in_place(path) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| io_failure("cannot write", path, &e))?;
            return Ok(Sink::InPlace(
                BufWriter::with_capacity(READ_BUFFER, file),
                path.clone(),
            ));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io_failure("cannot create", &dir, &e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".trent-partial-")
            .tempfile_in(&dir)
            .map_err(|e| io_failure("cannot write in", &dir, &e))?;
        Ok(Sink::File(
            BufWriter::with_capacity(READ_BUFFER, tmp),
            path.clone(),
        ))
    }

    /// Flushes and, for a file, renames it into place.
    fn commit(self) -> Result<(), Failure> {
        match self {
            Sink::Stdout(mut s) => s
                .flush()
                .map_err(|e| io_failure("cannot write", Path::new("-"), &e)),
            Sink::InPlace(mut w, path) => {
                w.flush().map_err(|e| io_failure("cannot write", &path, &e))
            }
            Sink::File(w, path) => {
                let tmp = w
                    .into_inner()
                    .map_err(|e| io_failure("cannot write", &path, e.error()))?;
                tmp.as_file()
                    .sync_all()
                    .map_err(|e| io_failure("cannot write", &path, &e))?;
                tmp.persist(&path)
                    .map_err(|e| io_failure("cannot write", &path, &e.error))?;
                Ok(())
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File(f, _) => f.write(buf),
            Sink::InPlace(f, _) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f, _) => f.flush(),
            Sink::InPlace(f, _) => f.flush(),
        }
    }
}

fn open_input(input: &Option<PathBuf>) -> Result<Box<dyn Read>, Failure> {
    let reader: Box<dyn Read> = match input {
        None => Box::new(io::stdin().lock()),
        Some(p) => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            File::open(p).map_err(|e| io_failure("cannot read", p, &e))?,
        )),
    };
    // A progress line on standard error when it is a terminal.
    if !io::IsTerminal::is_terminal(&io::stderr()) {
        return Ok(reader);
    }
    let name = display(input);
    let total = input
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    Ok(Box::new(Progress {
        inner: reader,
        name,
        total,
        done: 0,
        last: None,
    }))
}

/// Counts what is read and redraws `name: bytes (percent)` on standard error at most every
/// 200 ms, finishing the line at the end of the input.
struct Progress {
    inner: Box<dyn Read>,
    name: String,
    total: Option<u64>,
    done: u64,
    last: Option<std::time::Instant>,
}

fn progress_line(name: &str, done: u64, total: Option<u64>) -> String {
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    match total {
        Some(t) if t > 0 => format!(
            "{name}: {:.1} / {:.1} MiB ({}%)",
            mib(done),
            mib(t),
            done.saturating_mul(100) / t
        ),
        _ => format!("{name}: {:.1} MiB", mib(done)),
    }
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done = self.done.saturating_add(n as u64);
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(200));
        if n == 0 || due {
            self.last = Some(std::time::Instant::now());
            let end = if n == 0 { "\n" } else { "" };
            eprint!(
                "\r{}{end}",
                progress_line(&self.name, self.done, self.total)
            );
        }
        Ok(n)
    }
}

fn header_json(header: &Header, full_ec: &EncryptionContext) -> serde_json::Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    serde_json::json!({
        "version": header.version,
        "algorithm": suite_name(header.suite),
        "algorithm_id": format!("0x{:04x}", header.suite.id()),
        "message_id": b64(&header.message_id),
        "encryption_context": full_ec,
        "encrypted_data_keys": header.encrypted_data_keys.iter().map(|k| {
            let mut entry = serde_json::Map::new();
            entry.insert("provider_id".into(), k.provider_id.clone().into());
            entry.insert("provider_info".into(), b64(&k.provider_info).into());
            // KMS keys: the provider info is the wrapping key's ARN.
            if k.provider_id == trent_esdk_kms::PROVIDER_ID
                && let Ok(arn) = std::str::from_utf8(&k.provider_info)
            {
                entry.insert("key_arn".into(), arn.into());
            }
            serde_json::Value::Object(entry)
        }).collect::<Vec<_>>(),
        "frame_length": header.frame_length,
    })
}

struct Metadata(Option<Box<dyn Write>>);

impl Metadata {
    fn open(target: &Option<String>) -> Result<Metadata, Failure> {
        Ok(Metadata(match target.as_deref() {
            None => None,
            Some("-") => Some(Box::new(io::stdout())),
            Some(path) => Some(Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| io_failure("cannot write", Path::new(path), &e))?,
            )),
        }))
    }

    fn write(&mut self, line: &serde_json::Value) -> Result<(), Failure> {
        if let Some(w) = &mut self.0 {
            writeln!(w, "{line}")
                .and_then(|()| w.flush())
                .map_err(|e| io_failure("cannot write", Path::new("metadata output"), &e))?;
        }
        Ok(())
    }
}

fn check_stdout_use(common: &CommonArgs, jobs: &[Job]) -> Result<(), Failure> {
    if common.metadata_output.as_deref() == Some("-") && jobs.iter().any(|j| j.output.is_none()) {
        return Err(usage(
            "--metadata-output - and --output - both use standard output",
        ));
    }
    Ok(())
}

fn caching_manager(
    fields: &[String],
    keyring: MultiKeyring,
) -> Result<trent_esdk::CachingMaterialsManager, Failure> {
    let mut map = BTreeMap::new();
    for f in fields {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| usage(format!("--caching field {f:?} is not name=value")))?;
        if map.insert(k, v).is_some() {
            return Err(usage(format!("--caching field {k:?} given twice")));
        }
    }
    let allowed = [
        "capacity",
        "max_age",
        "max_messages_encrypted",
        "max_bytes_encrypted",
        "partition",
    ];
    if let Some(extra) = map.keys().find(|k| !allowed.contains(k)) {
        return Err(usage(format!("unknown --caching field {extra:?}")));
    }
    let number = |name: &str| -> Result<Option<u64>, Failure> {
        map.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| usage(format!("--caching {name}={v:?} is not a number")))
            })
            .transpose()
    };
    let capacity = number("capacity")?
        .and_then(|c| usize::try_from(c).ok())
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| usage("--caching needs capacity=<n> with n > 0"))?;
    let max_age = number("max_age")?
        .filter(|a| *a > 0)
        .ok_or_else(|| usage("--caching needs max_age=<seconds> with seconds > 0"))?;
    let limits = trent_esdk::CacheLimits {
        max_age: std::time::Duration::from_secs(max_age),
        max_messages: number("max_messages_encrypted")?.unwrap_or(1 << 32),
        max_bytes: number("max_bytes_encrypted")?.unwrap_or(i64::MAX.unsigned_abs()),
        capacity,
    };
    trent_esdk::CachingMaterialsManager::new(
        Box::new(keyring),
        map.get("partition").copied(),
        limits,
    )
    .map_err(|e| usage(format!("--caching: {e}")))
}

pub fn encrypt(args: &EncryptArgs) -> Result<(), Failure> {
    let common = &args.common;
    let config = config(common);
    let base = keyring(common)?;
    let (keyring, cache) = if args.caching.is_empty() {
        (Some(base), None)
    } else {
        (None, Some(caching_manager(&args.caching, base)?))
    };
    let (encryption_context, _) = parse_context(&common.encryption_context, false)?;
    let suite = args.algorithm.as_deref().map(parse_suite).transpose()?;
    if args.frame_length == 0 {
        return Err(usage("--frame-length must be at least 1"));
    }
    let request = EncryptRequest {
        encryption_context,
        required_encryption_context_keys: args.required_encryption_context_keys.clone(),
        suite,
        frame_length: args.frame_length,
    };
    let jobs = plan(common, Mode::Encrypt)?;
    check_stdout_use(common, &jobs)?;
    let mut metadata = Metadata::open(&common.metadata_output)?;
    for job in &jobs {
        let name = display(&job.input);
        let mut input = open_input(&job.input)?;
        let sink = Sink::open(&job.output)?;
        let mut writer = match (&cache, &keyring) {
            (Some(cache), _) => {
                let len = match &job.input {
                    Some(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                    None => None,
                };
                EncryptingWriter::with_materials_manager(&config, cache, &request, len, sink)
            }
            (None, Some(keyring)) => EncryptingWriter::new(&config, keyring, &request, sink),
            (None, None) => return Err(usage("no wrapping keys")),
        }
        .map_err(|e| crypto(&name, &e))?
        .with_threads(usize::from(args.threads));
        let suite = writer.suite();
        let full_ec = writer.encryption_context().clone();
        io::copy(&mut input, &mut writer)
            .map_err(|e| io_failure("cannot encrypt", Path::new(&name), &e))?;
        let sink = writer.finish().map_err(|e| crypto(&name, &e))?;
        sink.commit()?;
        metadata.write(&serde_json::json!({
            "mode": "encrypt",
            "input": name,
            "output": display(&job.output),
            "algorithm": suite_name(suite),
            "algorithm_id": format!("0x{:04x}", suite.id()),
            "encryption_context": full_ec,
            "frame_length": args.frame_length,
        }))?;
    }
    Ok(())
}

pub fn decrypt(args: &DecryptArgs) -> Result<(), Failure> {
    let common = &args.common;
    let config = config(common);
    let keyring = keyring(common)?;
    let (pairs, required_present) = parse_context(&common.encryption_context, true)?;
    let request = DecryptRequest {
        encryption_context: pairs,
        required_encryption_context_keys: Vec::new(),
    };
    let jobs = plan(common, Mode::Decrypt)?;
    check_stdout_use(common, &jobs)?;
    let mut metadata = Metadata::open(&common.metadata_output)?;
    for job in &jobs {
        let name = display(&job.input);
        let input = open_input(&job.input)?;
        // A file is renamed into place only after the whole message verifies, so frames may
        // go to the temporary file as they verify; standard output, a device or a pipe waits
        // for the signature.
        let options = StreamOptions {
            allow_unverified_streaming: job.output.as_deref().is_some_and(|p| !writes_in_place(p)),
            max_buffered: args.max_buffered_bytes,
        };
        let mut reader = DecryptingReader::new(&config, &keyring, &request, options, input)
            .map_err(|e| crypto(&name, &e))?
            .with_threads(usize::from(args.threads));
        if args.decrypt_unsigned && reader.header().suite.signature().is_some() {
            return Err(Failure {
                code: EXIT_CRYPTO,
                message: format!("{name}: the message is signed and --decrypt-unsigned was given"),
            });
        }
        if let Some(k) = required_present
            .iter()
            .find(|k| !reader.encryption_context().contains_key(*k))
        {
            return Err(Failure {
                code: EXIT_CRYPTO,
                message: format!("{name}: encryption context has no key {k:?}"),
            });
        }
        let line = serde_json::json!({
            "mode": "decrypt",
            "input": name,
            "output": display(&job.output),
            "header": header_json(reader.header(), reader.encryption_context()),
        });
        let mut sink = Sink::open(&job.output)?;
        copy_decrypted(&mut reader, &mut sink, &name)?;
        sink.commit()?;
        metadata.write(&line)?;
    }
    Ok(())
}

fn copy_decrypted<R: Read>(
    reader: &mut DecryptingReader<R>,
    sink: &mut Sink,
    name: &str,
) -> Result<(), Failure> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; READ_BUFFER]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Failure {
                    code: EXIT_CRYPTO,
                    message: format!("{name}: {e}"),
                });
            }
            Err(e) => return Err(io_failure("cannot read", Path::new(name), &e)),
        };
        if n == 0 {
            return Ok(());
        }
        sink.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| io_failure("cannot write", Path::new(name), &e))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_line("a.bin", 3 << 20, Some(12 << 20)),
            "a.bin: 3.0 / 12.0 MiB (25%)"
        );
        assert_eq!(progress_line("-", 1 << 19, None), "-: 0.5 MiB");
        assert_eq!(progress_line("e", 0, Some(0)), "e: 0.0 MiB");
    }

    #[test]
    fn wrapping_key_groups_split_where_a_field_repeats() {
        let fields: Vec<String> = ["provider=raw-aes", "key=a", "key=b", "region=x", "key=c"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            key_groups(&fields),
            vec![
                vec!["provider=raw-aes".to_owned(), "key=a".to_owned()],
                vec!["key=b".to_owned(), "region=x".to_owned()],
                vec!["key=c".to_owned()],
            ]
        );
    }
}
