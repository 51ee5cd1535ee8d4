//! Exports: CloudTrail-style log files with signed digest files, for shipping the trail to
//! another system, and their offline verifier.
//!
//! Layout under the export directory, as CloudTrail lays out a bucket:
//!
//! ```text
//! trent-audit-public-key.pem
//! AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz
//! AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<YYYYMMDDTHHMMZ>_<n>.json.gz
//! ```
//!
//! - A log file is `{"Records":[...]}`, gzip, one record per line, at most
//!   [`ExportSettings::records_per_file`] records, in chain order. Each record is the stored
//!   CloudTrail record with one member added at its end, `trentChain`: its chain position, the
//!   previous event's hash and its own, so the chain can be checked event by event. Removing
//!   that member gives back the exact bytes the chain hash covers. `<id>` is the first chain
//!   position in the file; the time is the newest event's.
//! - Each export run writes one digest file: the log files it wrote with the SHA-256 of their
//!   uncompressed content, the chain range they hold (first position and the hash it links
//!   to, last position and its hash), and the previous digest file's SHA-256 and signature,
//!   signed (Ed25519) with the audit signing key. The signature is the `digestSignature`
//!   member; the signed bytes are the digest JSON without it.
//! - A second export continues after the last digest in the directory.
//! - When the export starts right after the store's retention checkpoint (the events before
//!   were pruned), its digest carries that checkpoint, which the verifier checks and reports.
//!
//! [`verify_export`] checks every file against its digest, every digest's signature and the
//! digest chain, and the event chain through all records, and names each problem (see
//! [`Problem`]).

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trent_store::{AuditCheckpointRecord, AuditEventRecord};

use crate::chain::{self, Problem, Report, SIGNATURE_ALGORITHM, Verifier};
use crate::checkpoint::Checkpoint;
use crate::log::Signer;

/// The public key file written at the top of an export.
pub const PUBLIC_KEY_FILE: &str = "trent-audit-public-key.pem";
/// The member each exported record carries its chain data in.
const CHAIN_MEMBER: &str = ",\"trentChain\":";
const HASH_ALGORITHM: &str = "SHA-256";
/// Records per log file unless told otherwise.
pub const DEFAULT_RECORDS_PER_FILE: u32 = 1_000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("cannot write or read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the last digest in the export directory ({path}) does not verify with the audit public key"
    )]
    LastDigestInvalid { path: String },
    #[error(
        "event {seq} does not continue the export (it expects event {expected} linking to the hash its last digest signed)"
    )]
    Discontinuous { seq: i64, expected: i64 },
    #[error("record {seq} cannot be exported: it is not a JSON object")]
    BadRecord { seq: i64 },
    #[error("{0} holds no export (no AWSLogs/**/*.json.gz)")]
    NoExport(PathBuf),
    #[error("invalid export settings: {0}")]
    Settings(&'static str),
    #[error("signing the digest failed")]
    Sign(#[from] crate::log::AuditError),
}

/// Where and how an export writes.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// The account id in paths and file names.
    pub account_id: String,
    /// The region in paths and file names.
    pub region: String,
    /// Most records in one log file.
    pub records_per_file: usize,
}

/// One log file as a digest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogFileEntry {
    /// Path relative to the export directory, `/`-separated.
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed file.
    pub hash_value: String,
    pub hash_algorithm: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub oldest_event_time: String,
    pub newest_event_time: String,
}

/// A digest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportDigest {
    pub digest_version: String,
    pub aws_account_id: String,
    /// This digest's position in the export's digest chain, from 1.
    pub digest_seq: i64,
    pub digest_start_time: String,
    pub digest_end_time: String,
    /// The previous digest file (relative path), its SHA-256 (uncompressed) and signature;
    /// null for the first.
    pub previous_digest_file: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    /// The chain range of the files: the first position and the hash it links to, the last
    /// position and its hash.
    pub first_seq: i64,
    pub first_prev_hash: String,
    pub last_seq: i64,
    pub last_event_hash: String,
    pub log_files: Vec<LogFileEntry>,
    /// The store's retention checkpoint the export starts at, when the events before
    /// `first_seq` were pruned: its signed body and hex signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<ExportedCheckpoint>,
    /// Hex SHA-256 of the signing key's DER public key.
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    /// Hex signature over the digest JSON without this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_signature: Option<String>,
}

impl ExportDigest {
    fn signed_bytes(&self) -> Option<Vec<u8>> {
        let mut unsigned = self.clone();
        unsigned.digest_signature = None;
        serde_json::to_vec(&unsigned).ok()
    }

    fn signature_valid(&self, public_key_der: &[u8]) -> bool {
        let Some(sig) = self
            .digest_signature
            .as_deref()
            .and_then(trent_crypto::unhex)
        else {
            return false;
        };
        let Some(body) = self.signed_bytes() else {
            return false;
        };
        self.digest_public_key_fingerprint == chain::fingerprint(public_key_der)
            && chain::signature_valid(public_key_der, &body, &sig)
    }
}

/// A retention checkpoint as an export digest carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportedCheckpoint {
    /// The checkpoint JSON, exactly the signed bytes.
    pub body: String,
    pub signature: String,
}

impl ExportedCheckpoint {
    /// The checkpoint, if its signature verifies and it ends right before `first_seq`,
    /// linking to `first_prev_hash`.
    fn check(
        &self,
        public_key_der: &[u8],
        first_seq: i64,
        first_prev_hash: &str,
    ) -> Option<Checkpoint> {
        let body: Checkpoint = serde_json::from_str(&self.body).ok()?;
        let sig = trent_crypto::unhex(&self.signature)?;
        (chain::signature_valid(public_key_der, self.body.as_bytes(), &sig)
            && body.public_key_fingerprint == chain::fingerprint(public_key_der)
            && body.pruned_through.saturating_add(1) == first_seq
            && body.last_pruned_event_hash == first_prev_hash)
            .then_some(body)
    }
}

/// What one export run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub digest_seq: i64,
    pub digest_file: String,
    pub files: usize,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// The last digest of an export directory.
struct Previous {
    path: String,
    digest: ExportDigest,
    hash: [u8; 32],
}

/// Writes one export run: [`Exporter::open`], [`Exporter::push`] each event in chain order,
/// then [`Exporter::finish`].
pub struct Exporter {
    dir: PathBuf,
    settings: ExportSettings,
    previous: Option<Previous>,
    /// The first event of this run: position and the hash it links to.
    first: Option<(i64, Vec<u8>)>,
    /// The last event pushed: position and hash.
    last: Option<(i64, Vec<u8>)>,
    /// Records waiting for the current file: position, time, line.
    pending: Vec<(i64, i64, String)>,
    files: Vec<LogFileEntry>,
    /// The store's newest retention checkpoint.
    checkpoint: Option<AuditCheckpointRecord>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `YYYYMMDDTHHMMZ` and the `YYYY/MM/DD` directory of a time.
fn name_time(ms: i64) -> (String, String) {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    (
        format!("{y:04}{m:02}{d:02}T{:02}{:02}Z", t.hour(), t.minute()),
        format!("{y:04}/{m:02}/{d:02}"),
    )
}

/// Every `.json.gz` file under `dir/AWSLogs`, as `/`-separated relative paths, sorted.
fn list_files(dir: &Path) -> Result<BTreeSet<String>, ExportError> {
    let mut out = BTreeSet::new();
    let root = dir.join("AWSLogs");
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![(root, "AWSLogs".to_owned())];
    while let Some((path, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&path).map_err(io(&path))? {
            let entry = entry.map_err(io(&path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            let child = format!("{rel}/{name}");
            if kind.is_dir() {
                stack.push((entry.path(), child));
            } else if name.ends_with(".json.gz") {
                out.insert(child);
            }
        }
    }
    Ok(out)
}

fn is_digest_path(rel: &str) -> bool {
    rel.contains("/CloudTrail-Digest/")
}

fn read_gz(dir: &Path, rel: &str) -> Result<Option<Vec<u8>>, ExportError> {
    let path = dir.join(rel);
    let raw = std::fs::read(&path).map_err(io(&path))?;
    let mut out = Vec::new();
    match flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut out) {
        Ok(_) => Ok(Some(out)),
        Err(_) => Ok(None),
    }
}

/// Writes `content` gzip-compressed to `dir/rel`, through a temporary file and a rename.
fn write_gz(dir: &Path, rel: &str, content: &[u8]) -> Result<(), ExportError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension("gz.tmp");
    let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    gz.write_all(content).map_err(io(&tmp))?;
    let file = gz.finish().map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(())
}

/// A digest file read back: its relative path, the digest, the SHA-256 of its content.
type FoundDigest = (String, ExportDigest, [u8; 32]);

/// Reads every parseable digest file in digest order, and the paths of those that do not
/// parse.
fn read_digests(
    dir: &Path,
    files: &BTreeSet<String>,
) -> Result<(Vec<FoundDigest>, Vec<String>), ExportError> {
    let mut digests = Vec::new();
    let mut unreadable = Vec::new();
    for rel in files.iter().filter(|f| is_digest_path(f)) {
        let parsed = read_gz(dir, rel)?.and_then(|bytes| {
            serde_json::from_slice::<ExportDigest>(&bytes)
                .ok()
                .map(|d| (d, trent_crypto::sha256(&bytes)))
        });
        match parsed {
            Some((d, hash)) => digests.push((rel.clone(), d, hash)),
            None => unreadable.push(rel.clone()),
        }
    }
    digests.sort_by_key(|(_, d, _)| d.digest_seq);
    Ok((digests, unreadable))
}

impl Exporter {
    /// Opens `dir` (creating it) for a run that continues after its last digest, whose
    /// signature must verify with `public_key_der`.
    pub fn open(
        dir: &Path,
        settings: ExportSettings,
        public_key_der: &[u8],
    ) -> Result<Exporter, ExportError> {
        if settings.records_per_file == 0 {
            return Err(ExportError::Settings("records per file must be at least 1"));
        }
        let valid_part = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !valid_part(&settings.account_id) || !valid_part(&settings.region) {
            return Err(ExportError::Settings(
                "the account id and region may hold only letters, digits, '-' and '_'",
            ));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = list_files(dir)?;
        let (digests, _) = read_digests(dir, &files)?;
        let previous = match digests.into_iter().last() {
            Some((path, digest, hash)) => {
                if !digest.signature_valid(public_key_der) {
                    return Err(ExportError::LastDigestInvalid { path });
                }
                Some(Previous { path, digest, hash })
            }
            None => None,
        };
        let pem_path = dir.join(PUBLIC_KEY_FILE);
        std::fs::write(&pem_path, chain::public_key_pem(public_key_der)).map_err(io(&pem_path))?;
        Ok(Exporter {
            dir: dir.to_path_buf(),
            settings,
            previous,
            first: None,
            last: None,
            pending: Vec::new(),
            files: Vec::new(),
            checkpoint: None,
        })
    }

    /// The store's newest retention checkpoint: the digest carries it when this run starts
    /// right after it (the events before were pruned).
    pub fn set_checkpoint(&mut self, checkpoint: Option<AuditCheckpointRecord>) {
        self.checkpoint = checkpoint;
    }

    /// The last position a previous run exported and its hash: this run starts after it.
    pub fn resume_after(&self) -> Option<(i64, Vec<u8>)> {
        self.previous.as_ref().map(|p| {
            (
                p.digest.last_seq,
                trent_crypto::unhex(&p.digest.last_event_hash).unwrap_or_default(),
            )
        })
    }

    /// Adds the next event; it must link to the one before (or to the previous run's last).
    pub fn push(&mut self, e: &AuditEventRecord) -> Result<(), ExportError> {
        let expected = self.last.clone().or_else(|| self.resume_after());
        if let Some((seq, hash)) = &expected
            && (e.seq != seq.saturating_add(1) || e.prev_hash != *hash)
        {
            return Err(ExportError::Discontinuous {
                seq: e.seq,
                expected: seq.saturating_add(1),
            });
        }
        let line = record_line(e).ok_or(ExportError::BadRecord { seq: e.seq })?;
        if self.first.is_none() {
            self.first = Some((e.seq, e.prev_hash.clone()));
        }
        self.last = Some((e.seq, e.hash.clone()));
        self.pending.push((e.seq, e.event_time_ms, line));
        if self.pending.len() >= self.settings.records_per_file {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        let pending = std::mem::take(&mut self.pending);
        let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
            return Ok(());
        };
        let oldest = pending.iter().map(|p| p.1).min().unwrap_or(first.1);
        let newest = pending.iter().map(|p| p.1).max().unwrap_or(last.1);
        let (stamp, day) = name_time(newest);
        let ExportSettings {
            account_id: acct,
            region,
            ..
        } = &self.settings;
        let rel = format!(
            "AWSLogs/{acct}/CloudTrail/{region}/{day}/{acct}_CloudTrail_{region}_{stamp}_{:016}.json.gz",
            first.0
        );
        let mut content = String::from("{\"Records\":[\n");
        let lines: Vec<&str> = pending.iter().map(|p| p.2.as_str()).collect();
        content.push_str(&lines.join(",\n"));
        content.push_str("\n]}\n");
        write_gz(&self.dir, &rel, content.as_bytes())?;
        self.files.push(LogFileEntry {
            s3_object: rel,
            hash_value: trent_crypto::hex(&trent_crypto::sha256(content.as_bytes())),
            hash_algorithm: HASH_ALGORITHM.to_owned(),
            first_seq: first.0,
            last_seq: last.0,
            oldest_event_time: crate::record::format_time(oldest),
            newest_event_time: crate::record::format_time(newest),
        });
        Ok(())
    }

    /// Writes the last log file and the run's signed digest. `None` when no event was pushed.
    pub fn finish(
        mut self,
        signer: &Signer,
        now_ms: i64,
    ) -> Result<Option<ExportSummary>, ExportError> {
        self.flush()?;
        let (Some((first_seq, first_prev)), Some((last_seq, last_hash))) =
            (self.first.clone(), self.last.clone())
        else {
            return Ok(None);
        };
        let digest_seq = self
            .previous
            .as_ref()
            .map_or(1, |p| p.digest.digest_seq.saturating_add(1));
        let start = self
            .files
            .first()
            .map(|f| f.oldest_event_time.clone())
            .unwrap_or_default();
        let mut digest = ExportDigest {
            digest_version: "1".to_owned(),
            aws_account_id: self.settings.account_id.clone(),
            digest_seq,
            digest_start_time: start,
            digest_end_time: crate::record::format_time(now_ms),
            previous_digest_file: self.previous.as_ref().map(|p| p.path.clone()),
            previous_digest_hash_value: self.previous.as_ref().map(|p| trent_crypto::hex(&p.hash)),
            previous_digest_hash_algorithm: self
                .previous
                .as_ref()
                .map(|_| HASH_ALGORITHM.to_owned()),
            previous_digest_signature: self
                .previous
                .as_ref()
                .and_then(|p| p.digest.digest_signature.clone()),
            first_seq,
            first_prev_hash: trent_crypto::hex(&first_prev),
            last_seq,
            last_event_hash: trent_crypto::hex(&last_hash),
            log_files: std::mem::take(&mut self.files),
            checkpoint: self
                .checkpoint
                .as_ref()
                .filter(|c| c.pruned_through.saturating_add(1) == first_seq)
                .map(|c| ExportedCheckpoint {
                    body: c.body.clone(),
                    signature: trent_crypto::hex(&c.signature),
                }),
            digest_public_key_fingerprint: chain::fingerprint(signer.public_key_der()),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.to_owned(),
            digest_signature: None,
        };
        let body = digest
            .signed_bytes()
            .ok_or(ExportError::Settings("digest serialization"))?;
        digest.digest_signature = Some(trent_crypto::hex(&signer.sign(&body)?));
        let content = serde_json::to_vec(&digest)
            .map_err(|_| ExportError::Settings("digest serialization"))?;
        let (stamp, day) = name_time(now_ms);
        let ExportSettings {
            account_id: acct,
            region,
            ..
        } = &self.settings;
        let rel = format!(
            "AWSLogs/{acct}/CloudTrail-Digest/{region}/{day}/{acct}_CloudTrail-Digest_{region}_{stamp}_{digest_seq:06}.json.gz"
        );
        write_gz(&self.dir, &rel, &content)?;
        Ok(Some(ExportSummary {
            digest_seq,
            digest_file: rel,
            files: digest.log_files.len(),
            first_seq,
            last_seq,
        }))
    }
}

/// The chain data an exported record carries.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChainData {
    seq: i64,
    prev_hash: String,
    hash: String,
}

/// An event as a line of a log file: its record with the `trentChain` member added at the
/// end. `None` if the record is not a one-line JSON object.
pub fn record_line(e: &AuditEventRecord) -> Option<String> {
    let body = e
        .record
        .strip_suffix('}')
        .filter(|b| b.starts_with('{') && b.len() > 1 && !e.record.contains('\n'))?;
    Some(format!(
        "{body}{CHAIN_MEMBER}{{\"seq\":{},\"prevHash\":\"{}\",\"hash\":\"{}\"}}}}",
        e.seq,
        trent_crypto::hex(&e.prev_hash),
        trent_crypto::hex(&e.hash)
    ))
}

/// Splits a log file line into the stored record (only its chain position, hashes and
/// record bytes are filled in) and its chain data; the inverse of [`record_line`].
pub fn parse_line(line: &str) -> Option<AuditEventRecord> {
    let at = line.rfind(CHAIN_MEMBER)?;
    let (body, rest) = line.split_at(at);
    let data = rest.get(CHAIN_MEMBER.len()..)?.strip_suffix('}')?;
    let data: ChainData = serde_json::from_str(data).ok()?;
    Some(AuditEventRecord {
        seq: data.seq,
        account_id: String::new(),
        event_time_ms: 0,
        event_id: String::new(),
        event_name: String::new(),
        event_source: String::new(),
        username: None,
        access_key_id: None,
        read_only: false,
        resources: String::new(),
        record: format!("{body}}}"),
        prev_hash: trent_crypto::unhex(&data.prev_hash)?,
        hash: trent_crypto::unhex(&data.hash)?,
    })
}

/// The records of a log file's content, or `None` if it is not a log file as the export
/// writes them (lines that do not parse are `None` entries).
fn parse_log(content: &[u8]) -> Option<Vec<Option<AuditEventRecord>>> {
    let text = std::str::from_utf8(content).ok()?;
    // The whole file must be the JSON a CloudTrail consumer reads.
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    doc.get("Records")?.as_array()?;
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.first() != Some(&"{\"Records\":[") || lines.last() != Some(&"]}") {
        return None;
    }
    lines.remove(0);
    lines.pop();
    Some(
        lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l.strip_suffix(',').unwrap_or(l)))
            .collect(),
    )
}

/// Checks one log file against the hash its digest lists (`expect`: hash and digest) and
/// pushes its events.
fn read_log(
    v: &mut Verifier,
    dir: &Path,
    files: &BTreeSet<String>,
    done: &mut BTreeSet<String>,
    rel: &str,
    expect: Option<(&str, i64)>,
) -> Result<(), ExportError> {
    if !files.contains(rel) {
        if let Some((_, digest)) = expect {
            v.problem(Problem::RemovedFile {
                path: rel.to_owned(),
                digest,
            });
        }
        return Ok(());
    }
    if !done.insert(rel.to_owned()) {
        return Ok(());
    }
    let Some(content) = read_gz(dir, rel)? else {
        v.problem(Problem::UnreadableFile {
            path: rel.to_owned(),
        });
        return Ok(());
    };
    if let Some((hash, digest)) = expect
        && trent_crypto::hex(&trent_crypto::sha256(&content)) != hash
    {
        v.problem(Problem::ModifiedFile {
            path: rel.to_owned(),
            digest,
        });
    }
    match parse_log(&content) {
        Some(records) => {
            let mut bad = false;
            for r in records {
                match r {
                    Some(e) => v.push(&e),
                    None => bad = true,
                }
            }
            if bad {
                v.problem(Problem::UnreadableFile {
                    path: rel.to_owned(),
                });
            }
        }
        None => v.problem(Problem::UnreadableFile {
            path: rel.to_owned(),
        }),
    }
    Ok(())
}

/// Verifies an export directory with `public_key_der`.
pub fn verify_export(dir: &Path, public_key_der: &[u8]) -> Result<Report, ExportError> {
    let files = list_files(dir)?;
    if files.is_empty() {
        return Err(ExportError::NoExport(dir.to_path_buf()));
    }
    let (digests, unreadable) = read_digests(dir, &files)?;
    let mut v = Verifier::without_digests();
    for rel in unreadable {
        v.problem(Problem::UnreadableFile { path: rel });
    }
    // The digest chain.
    let mut valid: Vec<&FoundDigest> = Vec::new();
    let mut listed_by_forged: BTreeSet<&str> = BTreeSet::new();
    let mut expected = 1;
    for entry in &digests {
        let (_, d, _) = entry;
        v.count_digest();
        if d.digest_seq > expected {
            v.problem(Problem::DeletedDigests {
                from: expected,
                to: d.digest_seq.saturating_sub(1),
            });
        } else if d.digest_seq < expected {
            v.problem(Problem::DigestChainBroken {
                digest: d.digest_seq,
            });
            listed_by_forged.extend(d.log_files.iter().map(|f| f.s3_object.as_str()));
            continue;
        }
        let gap = d.digest_seq > expected;
        expected = d.digest_seq.saturating_add(1);
        let first_prev = trent_crypto::unhex(&d.first_prev_hash);
        let last_hash = trent_crypto::unhex(&d.last_event_hash);
        let (Some(first_prev), Some(last_hash)) = (first_prev, last_hash) else {
            v.problem(Problem::ForgedDigest {
                digest: d.digest_seq,
            });
            listed_by_forged.extend(d.log_files.iter().map(|f| f.s3_object.as_str()));
            continue;
        };
        if !d.signature_valid(public_key_der) {
            v.problem(Problem::ForgedDigest {
                digest: d.digest_seq,
            });
            listed_by_forged.extend(d.log_files.iter().map(|f| f.s3_object.as_str()));
            continue;
        }
        let follows = match valid.last() {
            None => d.digest_seq == 1 && d.previous_digest_hash_value.is_none(),
            Some((ppath, pd, phash)) => {
                pd.digest_seq == d.digest_seq.saturating_sub(1)
                    && d.previous_digest_file.as_deref() == Some(ppath.as_str())
                    && d.previous_digest_hash_value
                        .as_deref()
                        .and_then(trent_crypto::unhex)
                        == Some(phash.to_vec())
                    && d.previous_digest_signature == pd.digest_signature
                    && d.first_seq == pd.last_seq.saturating_add(1)
                    && Some(first_prev.clone()) == trent_crypto::unhex(&pd.last_event_hash)
            }
        };
        if !follows && !gap {
            v.problem(Problem::DigestChainBroken {
                digest: d.digest_seq,
            });
        }
        if valid.is_empty() {
            v.start_after(d.first_seq.saturating_sub(1), first_prev);
        }
        if let Some(c) = &d.checkpoint {
            match c.check(public_key_der, d.first_seq, &d.first_prev_hash) {
                Some(body) => v.set_checkpoint(body),
                None => v.problem(Problem::ForgedCheckpoint {
                    checkpoint: serde_json::from_str::<Checkpoint>(&c.body)
                        .map_or(0, |b| b.checkpoint_seq),
                }),
            }
        }
        v.claim(d.last_seq, last_hash, d.digest_seq);
        valid.push(entry);
    }
    // The files, in digest order, then any no digest lists.
    let mut done: BTreeSet<String> = BTreeSet::new();
    for (_, d, _) in &valid {
        for f in &d.log_files {
            read_log(
                &mut v,
                dir,
                &files,
                &mut done,
                &f.s3_object,
                Some((f.hash_value.as_str(), d.digest_seq)),
            )?;
        }
    }
    // Unlisted files in chain order of their names (the id is the first position).
    let mut rest: Vec<(&str, &String)> = files
        .iter()
        .filter(|f| !is_digest_path(f) && !done.contains(*f))
        .map(|f| (f.rsplit('_').next().unwrap_or(f), f))
        .collect();
    rest.sort();
    for (_, f) in rest {
        if !listed_by_forged.contains(f.as_str()) {
            v.problem(Problem::AddedFile { path: f.clone() });
        }
        read_log(&mut v, dir, &files, &mut done, f, None)?;
    }
    Ok(v.finish())
}

/// The public key an export carries (`trent-audit-public-key.pem`), if any.
pub fn export_public_key(dir: &Path) -> Option<Vec<u8>> {
    let pem = std::fs::read_to_string(dir.join(PUBLIC_KEY_FILE)).ok()?;
    chain::public_key_from_pem(&pem)
}

/// Parses a time given on the command line: RFC 3339 (`2026-11-22T10:00:00Z`) or a date
/// (`2026-11-22`, midnight UTC). Milliseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = match time::OffsetDateTime::parse(s, &Rfc3339) {
        Ok(t) => t,
        Err(_) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &format).ok()?.midnight().assume_utc()
        }
    };
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
