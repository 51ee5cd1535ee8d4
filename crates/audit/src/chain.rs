//! Tamper evidence: the hash chain over events, the signed digests over the chain, and the
//! offline verifier.
//!
//! - Event `n` stores `prev_hash` (event `n-1`'s hash, zeros for the first) and
//!   `hash = SHA-256("trent-audit-event-v1" ‖ prev_hash ‖ n as 8 bytes big-endian ‖ record)`.
//!   Changing a record, its position or its predecessor changes its hash.
//! - A digest covers the events after the previous digest up to `lastSeq` and names the chain
//!   hash there, and the SHA-256 and signature of the previous digest, so the digests form a
//!   chain of their own. It is signed (Ed25519) with the audit signing key, whose private half
//!   lives only under the store's barrier. Rewriting events and their hashes from some point on
//!   cannot produce the signed hash again; deleting events covered by a digest shows as a gap or
//!   a truncated tail.
//! - Events after the newest digest are not yet signed: the verifier counts them so an operator
//!   sees how much of the tail is protected by the chain alone.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use trent_crypto::{AsymmetricSpec, SigningAlgorithm};
use trent_store::{AuditDigestRecord, AuditEventRecord};

/// The `prev_hash` of the first event.
pub const GENESIS: [u8; 32] = [0; 32];
const EVENT_TAG: &[u8] = b"trent-audit-event-v1";
/// The digest signature algorithm, as digests name it.
pub const SIGNATURE_ALGORITHM: &str = "Ed25519";
pub(crate) const SPEC: AsymmetricSpec = AsymmetricSpec::Ed25519;
pub(crate) const ALG: SigningAlgorithm = SigningAlgorithm::Ed25519Sha512;

/// The chain hash of event `seq` with record bytes `record` after `prev`.
pub fn event_hash(prev: &[u8], seq: i64, record: &[u8]) -> [u8; 32] {
    trent_crypto::sha256_concat(&[EVENT_TAG, prev, &seq.to_be_bytes(), record])
}

/// The signed body of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_version: String,
    /// This digest's position in the digest chain, from 1.
    pub digest_seq: i64,
    /// When it was made (`YYYY-MM-DDTHH:MM:SSZ`).
    pub digest_end_time: String,
    /// The first and last event covered.
    pub first_seq: i64,
    pub last_seq: i64,
    /// Hex chain hash of event `last_seq`.
    pub last_event_hash: String,
    /// Hex SHA-256 of the previous digest's body; null for the first.
    pub previous_digest_hash: Option<String>,
    /// Hex signature of the previous digest; null for the first.
    pub previous_digest_signature: Option<String>,
    /// Hex SHA-256 of the signing key's DER public key.
    pub public_key_fingerprint: String,
    pub signature_algorithm: String,
}

/// The fingerprint digests name their key by.
pub fn fingerprint(public_key_der: &[u8]) -> String {
    trent_crypto::hex(&trent_crypto::sha256(public_key_der))
}

/// The public key as PEM (`-----BEGIN PUBLIC KEY-----`).
pub fn public_key_pem(der: &[u8]) -> String {
    let b64 = trent_wire::blob::encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The DER key of a PEM public key, as [`public_key_pem`] writes it.
pub fn public_key_from_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PUBLIC KEY-----")
        .collect();
    if body.is_empty() {
        return None;
    }
    trent_wire::blob::decode(&body).ok()
}

/// Whether `signature` is a valid digest signature over `body` by `public_key_der`.
pub fn signature_valid(public_key_der: &[u8], body: &[u8], signature: &[u8]) -> bool {
    trent_crypto::asymmetric::verify(SPEC, public_key_der, ALG, body, false, signature)
        .unwrap_or(false)
}

/// One thing wrong with a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The event's content does not match its hash: it was edited.
    EditedEvent { seq: i64 },
    /// The event does not link to the one before it: the one before was replaced (with a
    /// recomputed hash), or this one was.
    ChainBroken { seq: i64 },
    /// Events missing from the middle of the chain.
    DeletedEvents { from: i64, to: i64 },
    /// A second event claiming a position already taken.
    InsertedEvent { seq: i64 },
    /// An event found out of chain order.
    ReorderedEvent { seq: i64 },
    /// A digest covers events up to `expected` but the chain ends at `found`.
    TruncatedTail { expected: i64, found: Option<i64> },
    /// The chain hash at `seq` is not the one digest `digest` signed: events up to there were
    /// rewritten with recomputed hashes.
    ChainRewritten { digest: i64, seq: i64 },
    /// A digest whose signature does not verify (or that does not parse, or names another
    /// key).
    ForgedDigest { digest: i64 },
    /// A digest that does not follow the previous one (its previous-digest hash or its first
    /// event does not match).
    DigestChainBroken { digest: i64 },
    /// Digests missing from the digest chain.
    DeletedDigests { from: i64, to: i64 },
    /// An exported file whose SHA-256 is not the one its digest lists.
    ModifiedFile { path: String, digest: i64 },
    /// An exported file a digest lists that is not there.
    RemovedFile { path: String, digest: i64 },
    /// An exported log file that no digest lists.
    AddedFile { path: String },
    /// An exported file that cannot be read (not gzip, not the expected JSON).
    UnreadableFile { path: String },
    /// A retention checkpoint whose signature does not verify (or that does not parse, or
    /// names another key).
    ForgedCheckpoint { checkpoint: i64 },
    /// A checkpoint that does not follow the one before it.
    CheckpointChainBroken { checkpoint: i64 },
    /// Checkpoints missing from the checkpoint chain.
    DeletedCheckpoints { from: i64, to: i64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EditedEvent { seq } => {
                write!(
                    f,
                    "event {seq} was edited: its content does not match its hash"
                )
            }
            Problem::ChainBroken { seq } => write!(
                f,
                "event {seq} does not link to event {}: one of them was replaced",
                seq.saturating_sub(1)
            ),
            Problem::DeletedEvents { from, to } if from == to => {
                write!(f, "event {from} was deleted")
            }
            Problem::DeletedEvents { from, to } => write!(f, "events {from} to {to} were deleted"),
            Problem::InsertedEvent { seq } => {
                write!(f, "an event was inserted: two events claim position {seq}")
            }
            Problem::ReorderedEvent { seq } => {
                write!(f, "event {seq} was moved out of chain order")
            }
            Problem::TruncatedTail { expected, found } => match found {
                Some(found) => write!(
                    f,
                    "the trail was truncated: a signed digest covers events up to {expected} but the last event is {found}"
                ),
                None => write!(
                    f,
                    "the trail was truncated: a signed digest covers events up to {expected} but there are no events"
                ),
            },
            Problem::ChainRewritten { digest, seq } => write!(
                f,
                "events up to {seq} were rewritten: the chain hash there is not the one digest {digest} signed"
            ),
            Problem::ForgedDigest { digest } => write!(
                f,
                "digest {digest} is forged: its signature does not verify with the audit public key"
            ),
            Problem::DigestChainBroken { digest } => {
                write!(f, "digest {digest} does not follow the digest before it")
            }
            Problem::DeletedDigests { from, to } if from == to => {
                write!(f, "digest {from} was deleted")
            }
            Problem::DeletedDigests { from, to } => {
                write!(f, "digests {from} to {to} were deleted")
            }
            Problem::ModifiedFile { path, digest } => write!(
                f,
                "file {path} was modified: its SHA-256 is not the one digest {digest} lists"
            ),
            Problem::RemovedFile { path, digest } => {
                write!(f, "file {path}, listed in digest {digest}, was removed")
            }
            Problem::AddedFile { path } => {
                write!(f, "file {path} was added: no digest lists it")
            }
            Problem::UnreadableFile { path } => {
                write!(
                    f,
                    "file {path} cannot be read: it is not what the export wrote"
                )
            }
            Problem::ForgedCheckpoint { checkpoint } => write!(
                f,
                "checkpoint {checkpoint} is forged: its signature does not verify with the audit public key"
            ),
            Problem::CheckpointChainBroken { checkpoint } => write!(
                f,
                "checkpoint {checkpoint} does not follow the checkpoint before it"
            ),
            Problem::DeletedCheckpoints { from, to } if from == to => {
                write!(f, "checkpoint {from} was deleted")
            }
            Problem::DeletedCheckpoints { from, to } => {
                write!(f, "checkpoints {from} to {to} were deleted")
            }
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub events: u64,
    pub digests: u64,
    /// Events after the newest valid digest: protected by the chain, not yet by a signature.
    pub unsigned_events: u64,
    /// Events at or before the retention checkpoint that are still waiting to be pruned (not
    /// verified).
    pub behind_checkpoint: u64,
    /// The retention checkpoint the chain was verified from, if events were pruned.
    pub checkpoint: Option<crate::checkpoint::Checkpoint>,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a trail: first its digests, then its events one at a time in the order given
/// (chain order for the store; file order for an export), so memory stays bounded by the
/// number of digests and problems, not events.
pub struct Verifier {
    report: Report,
    /// The event positions valid digests vouch for, with the signed hash and digest number.
    claims: HashMap<i64, (Vec<u8>, i64)>,
    /// The highest position a valid digest covers.
    signed_up_to: i64,
    /// Highest position seen so far and its hash.
    max: Option<(i64, Vec<u8>)>,
    /// Hashes seen at claimed positions (first occurrence).
    seen_claims: HashMap<i64, Vec<u8>>,
    /// Gaps in the positions, as seen so far.
    gaps: Vec<(i64, i64)>,
    /// Positions that arrived after a higher one.
    late: BTreeSet<i64>,
    /// The first position the trail should hold and the hash it should link to: 1 and
    /// [`GENESIS`], or the position after a retention checkpoint or an export's start.
    start: (i64, Vec<u8>),
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    trent_crypto::unhex(s)
}

impl Verifier {
    /// Checks `digests` (in digest order) against `public_key_der`.
    pub fn new(public_key_der: &[u8], digests: &[AuditDigestRecord]) -> Verifier {
        let mut report = Report {
            digests: digests.len() as u64,
            ..Report::default()
        };
        let print = fingerprint(public_key_der);
        let mut claims = HashMap::new();
        let mut signed_up_to = 0;
        // The previous valid digest: (digest seq, last event, body hash, signature).
        let mut prev: Option<(i64, i64, [u8; 32], Vec<u8>)> = None;
        let mut expected_seq = 1;
        for d in digests {
            if d.seq > expected_seq {
                report.problems.push(Problem::DeletedDigests {
                    from: expected_seq,
                    to: d.seq.saturating_sub(1),
                });
            } else if d.seq < expected_seq {
                report
                    .problems
                    .push(Problem::DigestChainBroken { digest: d.seq });
                continue;
            }
            expected_seq = d.seq.saturating_add(1);
            let parsed: Option<Digest> = serde_json::from_str(&d.body).ok();
            let body = match parsed {
                Some(b)
                    if signature_valid(public_key_der, d.body.as_bytes(), &d.signature)
                        && b.public_key_fingerprint == print
                        && b.digest_seq == d.seq =>
                {
                    b
                }
                _ => {
                    report
                        .problems
                        .push(Problem::ForgedDigest { digest: d.seq });
                    continue;
                }
            };
            let follows = match &prev {
                None => d.seq == 1 && body.previous_digest_hash.is_none() && body.first_seq == 1,
                Some((pseq, plast, phash, psig)) => {
                    *pseq == d.seq.saturating_sub(1)
                        && body
                            .previous_digest_hash
                            .as_deref()
                            .and_then(parse_hex)
                            .as_deref()
                            == Some(&phash[..])
                        && body
                            .previous_digest_signature
                            .as_deref()
                            .and_then(parse_hex)
                            .as_deref()
                            == Some(&psig[..])
                        && body.first_seq == plast.saturating_add(1)
                }
            };
            if !follows && !matches!(report.problems.last(), Some(Problem::DeletedDigests { .. })) {
                report
                    .problems
                    .push(Problem::DigestChainBroken { digest: d.seq });
            }
            match parse_hex(&body.last_event_hash) {
                Some(h) => {
                    claims.insert(body.last_seq, (h, d.seq));
                }
                None => report
                    .problems
                    .push(Problem::ForgedDigest { digest: d.seq }),
            }
            signed_up_to = signed_up_to.max(body.last_seq);
            prev = Some((
                d.seq,
                body.last_seq,
                trent_crypto::sha256(d.body.as_bytes()),
                d.signature.clone(),
            ));
        }
        Verifier {
            report,
            claims,
            signed_up_to,
            max: None,
            seen_claims: HashMap::new(),
            gaps: Vec::new(),
            late: BTreeSet::new(),
            start: (1, GENESIS.to_vec()),
        }
    }

    /// A verifier with no digests yet: signed claims come from [`Verifier::claim`] (an
    /// export's digest files).
    pub fn without_digests() -> Verifier {
        Self::new(&[], &[])
    }

    /// Records that a valid signature vouches for `hash` as the chain hash at `seq` (in
    /// digest `digest`).
    pub fn claim(&mut self, seq: i64, hash: Vec<u8>, digest: i64) {
        self.claims.insert(seq, (hash, digest));
        self.signed_up_to = self.signed_up_to.max(seq);
    }

    /// Counts a digest checked elsewhere.
    pub fn count_digest(&mut self) {
        self.report.digests += 1;
    }

    /// Adds a problem found elsewhere (in files, checkpoints).
    pub fn problem(&mut self, p: Problem) {
        self.report.problems.push(p);
    }

    /// The trail starts after position `seq`, whose chain hash is `hash` (a retention
    /// checkpoint, or the start of an export). Call before pushing events. Events at or
    /// before `seq` are skipped: what remains of them is waiting to be pruned.
    pub fn start_after(&mut self, seq: i64, hash: Vec<u8>) {
        self.start = (seq.saturating_add(1), hash);
    }

    fn in_gap(&self, seq: i64) -> bool {
        self.gaps.iter().any(|(a, b)| (*a..=*b).contains(&seq))
    }

    pub(crate) fn set_checkpoint(&mut self, c: crate::checkpoint::Checkpoint) {
        self.report.checkpoint = Some(c);
    }

    /// Checks the next event.
    pub fn push(&mut self, e: &AuditEventRecord) {
        if e.seq < self.start.0 {
            self.report.behind_checkpoint += 1;
            return;
        }
        self.report.events += 1;
        if event_hash(&e.prev_hash, e.seq, e.record.as_bytes()).as_slice() != e.hash.as_slice() {
            self.report
                .problems
                .push(Problem::EditedEvent { seq: e.seq });
        }
        match &self.max {
            None => {
                if e.seq > self.start.0 {
                    self.gaps.push((self.start.0, e.seq - 1));
                } else if e.prev_hash != self.start.1 {
                    self.report
                        .problems
                        .push(Problem::ChainBroken { seq: e.seq });
                }
            }
            Some((max, hash)) => {
                let max = *max;
                if e.seq == max.saturating_add(1) {
                    if e.prev_hash != *hash {
                        self.report
                            .problems
                            .push(Problem::ChainBroken { seq: e.seq });
                    }
                } else if e.seq > max {
                    self.gaps.push((max.saturating_add(1), e.seq - 1));
                } else if self.in_gap(e.seq) && !self.late.contains(&e.seq) {
                    self.late.insert(e.seq);
                } else {
                    self.report
                        .problems
                        .push(Problem::InsertedEvent { seq: e.seq });
                }
            }
        }
        if self.claims.contains_key(&e.seq) && !self.seen_claims.contains_key(&e.seq) {
            self.seen_claims.insert(e.seq, e.hash.clone());
        }
        if self.max.as_ref().is_none_or(|(m, _)| e.seq > *m) {
            self.max = Some((e.seq, e.hash.clone()));
        }
    }

    /// The report, once every event was pushed.
    pub fn finish(mut self) -> Report {
        for (from, to) in std::mem::take(&mut self.gaps) {
            let mut start = from;
            for seq in from..=to {
                if self.late.contains(&seq) {
                    if start < seq {
                        self.report.problems.push(Problem::DeletedEvents {
                            from: start,
                            to: seq - 1,
                        });
                    }
                    self.report.problems.push(Problem::ReorderedEvent { seq });
                    start = seq.saturating_add(1);
                }
            }
            if start <= to {
                self.report
                    .problems
                    .push(Problem::DeletedEvents { from: start, to });
            }
        }
        let max = self.max.as_ref().map(|(m, _)| *m);
        let mut claims: Vec<_> = self.claims.iter().collect();
        claims.sort_by_key(|(seq, _)| **seq);
        let mut truncated = false;
        for (seq, (hash, digest)) in claims {
            if *seq < self.start.0 {
                // Behind the checkpoint: pruned.
                continue;
            }
            match self.seen_claims.get(seq) {
                Some(seen) if seen == hash => {}
                Some(_) => self.report.problems.push(Problem::ChainRewritten {
                    digest: *digest,
                    seq: *seq,
                }),
                None if max.is_none_or(|m| *seq > m) && !truncated => {
                    truncated = true;
                    self.report.problems.push(Problem::TruncatedTail {
                        expected: self.signed_up_to,
                        found: max,
                    });
                }
                // Deleted from the middle: reported as a gap.
                None => {}
            }
        }
        let signed = self.signed_up_to.max(self.start.0.saturating_sub(1));
        self.report.unsigned_events = max
            .map(|m| m.saturating_sub(signed).max(0))
            .unwrap_or(0)
            .try_into()
            .unwrap_or(0);
        self.report
    }
}

/// Verifies a whole trail held in memory.
pub fn verify(
    public_key_der: &[u8],
    events: &[AuditEventRecord],
    digests: &[AuditDigestRecord],
) -> Report {
    let mut v = Verifier::new(public_key_der, digests);
    for e in events {
        v.push(e);
    }
    v.finish()
}
