//! What a load run sends: one KMS operation, a fixed request body, and what a successful answer
//! must carry. The client, histogram and report are the same for every operation; only this
//! mapping differs.

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;

/// The KMS operation driven by a load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Operation {
    /// `Encrypt` of `--bytes` of plaintext under a SYMMETRIC_DEFAULT key.
    Encrypt,
    /// `Sign` of a `--bytes` RAW message under a SIGN_VERIFY key, with `--signing-algorithm`.
    Sign,
    /// `GenerateMac` of a `--bytes` message under an HMAC key, with `--mac-algorithm`.
    GenerateMac,
}

impl Operation {
    /// The API name, as in `X-Amz-Target`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Encrypt => "Encrypt",
            Operation::Sign => "Sign",
            Operation::GenerateMac => "GenerateMac",
        }
    }

    pub fn target(self) -> String {
        format!("TrentService.{}", self.name())
    }

    /// The member a 200 answer must carry as a non-empty (base64) string; one without it is
    /// counted as an error.
    pub fn result_member(self) -> &'static str {
        match self {
            Operation::Encrypt => "CiphertextBlob",
            Operation::Sign => "Signature",
            Operation::GenerateMac => "Mac",
        }
    }

    /// Plaintext or message size when `--bytes` is not given.
    pub fn default_bytes(self) -> usize {
        match self {
            Operation::Encrypt => 4096,
            Operation::Sign | Operation::GenerateMac => 32,
        }
    }
}

/// One operation with its parameters, ready to be sent again and again.
#[derive(Debug)]
pub struct Workload {
    pub operation: Operation,
    /// Plaintext or message size in bytes.
    pub bytes: usize,
    /// The signing or MAC algorithm, for Sign and GenerateMac.
    pub algorithm: Option<String>,
    pub body: Bytes,
}

impl Workload {
    /// Builds the request body. `bytes` must be 1..=4096, as KMS requires for all three.
    pub fn new(
        operation: Operation,
        key_id: &str,
        bytes: usize,
        signing_algorithm: &str,
        mac_algorithm: &str,
    ) -> anyhow::Result<Self> {
        if !(1..=4096).contains(&bytes) {
            anyhow::bail!("--bytes must be 1..=4096 (KMS accepts no more), not {bytes}");
        }
        let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
        let payload = base64::engine::general_purpose::STANDARD.encode(&payload);
        let (body, algorithm) = match operation {
            Operation::Encrypt => (
                serde_json::json!({ "KeyId": key_id, "Plaintext": payload }),
                None,
            ),
            Operation::Sign => (
                serde_json::json!({
                    "KeyId": key_id,
                    "Message": payload,
                    "MessageType": "RAW",
                    "SigningAlgorithm": signing_algorithm,
                }),
                Some(signing_algorithm.to_owned()),
            ),
            Operation::GenerateMac => (
                serde_json::json!({
                    "KeyId": key_id,
                    "Message": payload,
                    "MacAlgorithm": mac_algorithm,
                }),
                Some(mac_algorithm.to_owned()),
            ),
        };
        Ok(Workload {
            operation,
            bytes,
            algorithm,
            body: Bytes::from(serde_json::to_vec(&body)?),
        })
    }

    /// `Encrypt`, or the operation and its algorithm, e.g. `Sign ECDSA_SHA_256`.
    pub fn describe(&self) -> String {
        match &self.algorithm {
            Some(alg) => format!("{} {alg}", self.operation.name()),
            None => self.operation.name().to_owned(),
        }
    }
}

/// Whether `body` is a JSON object whose `member` is a non-empty string.
pub fn has_result(body: &[u8], member: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get(member)
                .and_then(serde_json::Value::as_str)
                .map(|s| !s.is_empty())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_operation_members() {
        let w = Workload::new(Operation::Sign, "k", 32, "ECDSA_SHA_256", "HMAC_SHA_256").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(v["MessageType"], "RAW");
        assert_eq!(v["SigningAlgorithm"], "ECDSA_SHA_256");
        assert_eq!(v["Message"].as_str().unwrap().len(), 44);
        assert_eq!(w.describe(), "Sign ECDSA_SHA_256");

        let w = Workload::new(Operation::GenerateMac, "k", 64, "x", "HMAC_SHA_256").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(v["MacAlgorithm"], "HMAC_SHA_256");
        assert!(v.get("SigningAlgorithm").is_none());

        let w = Workload::new(Operation::Encrypt, "k", 64, "x", "y").unwrap();
        assert_eq!(w.describe(), "Encrypt");
        assert!(Workload::new(Operation::Encrypt, "k", 0, "x", "y").is_err());
        assert!(Workload::new(Operation::Sign, "k", 4097, "x", "y").is_err());
    }

    #[test]
    fn result_check() {
        assert!(has_result(
            br#"{"Signature":"AAAA","KeyId":"k"}"#,
            "Signature"
        ));
        assert!(!has_result(br#"{"Signature":"","KeyId":"k"}"#, "Signature"));
        assert!(!has_result(br#"{"KeyId":"k"}"#, "Signature"));
        assert!(!has_result(b"not json", "Mac"));
    }
}
