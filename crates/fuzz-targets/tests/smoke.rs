//! A short smoke run of every fuzz target: each committed seed, then deterministic
//! pseudo-random mutations of the seeds (byte flips, inserts, deletions, truncations, splices).
//! The long runs are cargo-fuzz's job (see docs/fuzzing.md); this keeps the targets compiling
//! and catches a crash on the paths the seeds reach.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

/// Mutations per target: enough to leave the seeds' happy paths, small enough for a debug build.
const MUTATIONS: usize = 3000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes the parsers give meaning to, so that mutations reach their branches sooner.
const INTERESTING: &[u8] = b"\0\x01\x02\x7f\x80\xff{}[]\":,=&%+./\\\n 0123456789aAzZ*?$-_;";

fn mutate(rng: &mut XorShift, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(16)) + 1;
                input.drain(i..i + n);
            }
            4 => input.truncate(rng.below(len + 1)),
            5 if len > 1 => {
                // Repeat a slice of the input (lengths and nesting grow).
                let i = rng.below(len);
                let n = rng.below((len - i).min(64)) + 1;
                let chunk = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            _ => {
                // Splice in part of another seed.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let i = rng.below(other.len());
                    let n = rng.below((other.len() - i).min(64)) + 1;
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[i..i + n].iter().copied());
                }
            }
        }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn smoke(target: &str, run: fn(&[u8])) {
    let seeds = seeds(target);
    for seed in &seeds {
        run(seed);
    }
    // A fixed seed per target: a failure reproduces exactly.
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..MUTATIONS {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        run(&input);
    }
    run(&[]);
}

#[test]
fn sigv4_authorization() {
    smoke(
        "sigv4_authorization",
        trent_fuzz_targets::sigv4_authorization,
    );
}

#[test]
fn sigv4_request() {
    smoke("sigv4_request", trent_fuzz_targets::sigv4_request);
}

#[test]
fn json() {
    smoke("json", trent_fuzz_targets::json);
}

#[test]
fn query() {
    smoke("query", trent_fuzz_targets::query);
}

#[test]
fn kms_blob() {
    smoke("kms_blob", trent_fuzz_targets::kms_blob);
}

#[test]
fn esdk() {
    smoke("esdk", trent_fuzz_targets::esdk);
}

#[test]
fn policy() {
    smoke("policy", trent_fuzz_targets::policy);
}

/// The seeds that should decode do: a seed that silently fails early would leave the smoke run
/// (and the fuzzer's starting corpus) on the error paths only.
#[test]
fn seeds_are_valid() {
    for seed in seeds("json") {
        let (selector, body) = seed.split_first().unwrap();
        let (service, op) = trent_fuzz_targets::json_operations()
            [usize::from(*selector) % trent_fuzz_targets::json_operations().len()];
        let ok = match service {
            trent_fuzz_targets::JsonService::Kms => trent_kms::Kms::decode_request(op, body),
            trent_fuzz_targets::JsonService::Ssm => trent_ssm::Ssm::decode_request(op, body),
            trent_fuzz_targets::JsonService::SecretsManager => {
                trent_secrets::Secrets::decode_request(op, body)
            }
            trent_fuzz_targets::JsonService::CloudTrail => Some(Ok(())),
        };
        assert!(
            matches!(ok, Some(Ok(()))),
            "{op}: {:?}",
            ok.map(|r| r.map_err(|e| e.message))
        );
    }
    for seed in seeds("kms_blob") {
        trent_kms::blob::Blob::parse(&seed).unwrap();
    }
    for seed in seeds("policy") {
        let kinds = [
            trent_policy::ParseOptions::IDENTITY,
            trent_policy::ParseOptions::RESOURCE,
            trent_policy::ParseOptions::KEY_POLICY,
            trent_policy::ParseOptions::TRUST,
        ];
        let doc = std::str::from_utf8(&seed[1..]).unwrap();
        trent_policy::Policy::parse(doc, kinds[usize::from(seed[0] % 4)]).unwrap();
    }
    let keyring = trent_fuzz_targets::esdk_keyring().unwrap();
    let message = [
        trent_fuzz_targets::ESDK_HEADER,
        trent_fuzz_targets::ESDK_FRAMES,
        trent_fuzz_targets::ESDK_FOOTER,
    ]
    .concat();
    trent_esdk::decrypt(
        &trent_esdk::ClientConfig::default(),
        &keyring,
        &trent_esdk::DecryptRequest::default(),
        &message,
    )
    .unwrap();
}
