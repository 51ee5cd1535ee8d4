//! What a load run sends: one KMS or Parameter Store operation, its request bodies (one fixed
//! body, or one per parameter name, taken in turn), and what a successful answer must carry. The
//! client, histogram and report are the same for every operation; only this mapping differs.

use base64::Engine as _;
use bytes::Bytes;
use clap::ValueEnum;

/// The operation driven by a load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Operation {
    /// `Encrypt` of `--bytes` of plaintext under a SYMMETRIC_DEFAULT key.
    Encrypt,
    /// `Sign` of a `--bytes` RAW message under a SIGN_VERIFY key, with `--signing-algorithm`.
    Sign,
    /// `GenerateMac` of a `--bytes` message under an HMAC key, with `--mac-algorithm`.
    GenerateMac,
    /// Parameter Store `GetParameter` of `--count` parameters `<prefix>/p00000`, … in turn.
    GetParameter,
    /// `GetParameter` with `WithDecryption` (for SecureString parameters).
    GetParameterDecrypted,
    /// `PutParameter` with `Overwrite` of `--count` String parameters in turn, `--bytes` values:
    /// every request stores a new version.
    PutParameter,
    /// `GetParametersByPath` of `<prefix>`, recursive, first page of 10.
    GetParametersByPath,
    /// Secrets Manager `GetSecretValue` (AWSCURRENT) of `--count` secrets `<prefix>/p00000`, …
    /// in turn.
    GetSecretValue,
    /// `PutSecretValue` of `--bytes` string values to `--count` secrets in turn: every request
    /// stores a new version (durable before the answer).
    PutSecretValue,
}

impl Operation {
    /// The API name, as in `X-Amz-Target`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Encrypt => "Encrypt",
            Operation::Sign => "Sign",
            Operation::GenerateMac => "GenerateMac",
            Operation::GetParameter | Operation::GetParameterDecrypted => "GetParameter",
            Operation::PutParameter => "PutParameter",
            Operation::GetParametersByPath => "GetParametersByPath",
            Operation::GetSecretValue => "GetSecretValue",
            Operation::PutSecretValue => "PutSecretValue",
        }
    }

    /// Whether this is a Secrets Manager operation (SigV4 service `secretsmanager`).
    pub fn is_secrets(self) -> bool {
        matches!(self, Operation::GetSecretValue | Operation::PutSecretValue)
    }

    /// Whether the requests go through `--count` names under `--prefix` (parameters or secrets).
    pub fn is_named(self) -> bool {
        self.is_ssm() || self.is_secrets()
    }

    /// Whether this is a Parameter Store operation (SigV4 service `ssm`).
    pub fn is_ssm(self) -> bool {
        matches!(
            self,
            Operation::GetParameter
                | Operation::GetParameterDecrypted
                | Operation::PutParameter
                | Operation::GetParametersByPath
        )
    }

    /// The SigV4 service name.
    pub fn service(self) -> &'static str {
        if self.is_ssm() {
            "ssm"
        } else if self.is_secrets() {
            "secretsmanager"
        } else {
            "kms"
        }
    }

    pub fn target(self) -> String {
        if self.is_ssm() {
            format!("AmazonSSM.{}", self.name())
        } else if self.is_secrets() {
            format!("secretsmanager.{}", self.name())
        } else {
            format!("TrentService.{}", self.name())
        }
    }

    /// The member (a JSON pointer) a 200 answer must carry as a non-empty string or a number;
    /// one without it is counted as an error.
    pub fn result_member(self) -> &'static str {
        match self {
            Operation::Encrypt => "/CiphertextBlob",
            Operation::Sign => "/Signature",
            Operation::GenerateMac => "/Mac",
            Operation::GetParameter | Operation::GetParameterDecrypted => "/Parameter/Value",
            Operation::PutParameter => "/Version",
            Operation::GetParametersByPath => "/Parameters/0/Name",
            Operation::GetSecretValue => "/SecretString",
            Operation::PutSecretValue => "/VersionId",
        }
    }

    /// Plaintext or message size when `--bytes` is not given.
    pub fn default_bytes(self) -> usize {
        match self {
            Operation::Encrypt => 4096,
            Operation::Sign | Operation::GenerateMac => 32,
            Operation::GetParameter
            | Operation::GetParameterDecrypted
            | Operation::PutParameter
            | Operation::GetParametersByPath
            | Operation::GetSecretValue
            | Operation::PutSecretValue => 32,
        }
    }
}

/// The name of the `i`th benchmark parameter under `prefix`.
pub fn parameter_name(prefix: &str, i: usize) -> String {
    format!("{}/p{i:05}", prefix.trim_end_matches('/'))
}

/// One operation with its parameters, ready to be sent again and again.
#[derive(Debug)]
pub struct Workload {
    pub operation: Operation,
    /// Plaintext or message size in bytes.
    pub bytes: usize,
    /// The signing or MAC algorithm, for Sign and GenerateMac.
    pub algorithm: Option<String>,
    /// The request bodies, sent in turn (one for the KMS operations).
    pub bodies: Vec<Bytes>,
}

/// What a Parameter Store workload names.
pub struct Parameters<'a> {
    pub prefix: &'a str,
    pub count: usize,
}

impl Workload {
    /// The bodies of a Parameter Store or Secrets Manager operation.
    pub fn ssm(
        operation: Operation,
        params: &Parameters<'_>,
        bytes: usize,
    ) -> anyhow::Result<Self> {
        if params.count == 0 {
            anyhow::bail!("--count must be at least 1");
        }
        if !(1..=4096).contains(&bytes) {
            anyhow::bail!("--bytes must be 1..=4096 (a Standard parameter's limit), not {bytes}");
        }
        let value: String = (0..bytes)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let bodies: Vec<serde_json::Value> = match operation {
            Operation::GetParameter | Operation::GetParameterDecrypted => (0..params.count)
                .map(|i| {
                    serde_json::json!({
                        "Name": parameter_name(params.prefix, i),
                        "WithDecryption": operation == Operation::GetParameterDecrypted,
                    })
                })
                .collect(),
            Operation::PutParameter => (0..params.count)
                .map(|i| {
                    serde_json::json!({
                        "Name": parameter_name(params.prefix, i),
                        "Value": value,
                        "Type": "String",
                        "Overwrite": true,
                    })
                })
                .collect(),
            Operation::GetParametersByPath => vec![serde_json::json!({
                "Path": params.prefix,
                "Recursive": true,
                "MaxResults": 10,
            })],
            Operation::GetSecretValue => (0..params.count)
                .map(|i| serde_json::json!({ "SecretId": parameter_name(params.prefix, i) }))
                .collect(),
            Operation::PutSecretValue => (0..params.count)
                .map(|i| {
                    serde_json::json!({
                        "SecretId": parameter_name(params.prefix, i),
                        "SecretString": value,
                    })
                })
                .collect(),
            _ => anyhow::bail!(
                "{} is not a Parameter Store or Secrets Manager operation",
                operation.name()
            ),
        };
        Ok(Workload {
            operation,
            bytes,
            algorithm: (operation == Operation::GetParameterDecrypted)
                .then(|| "WithDecryption".to_owned()),
            bodies: bodies
                .iter()
                .map(|b| serde_json::to_vec(b).map(Bytes::from))
                .collect::<Result<_, _>>()?,
        })
    }

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
            _ => anyhow::bail!("{} is not a KMS operation", operation.name()),
        };
        Ok(Workload {
            operation,
            bytes,
            algorithm,
            bodies: vec![Bytes::from(serde_json::to_vec(&body)?)],
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

/// Whether `body` is JSON whose `member` (a JSON pointer) is a non-empty string or a number.
pub fn has_result(body: &[u8], member: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer(member).map(|m| match m {
                serde_json::Value::String(s) => !s.is_empty(),
                serde_json::Value::Number(_) => true,
                _ => false,
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_operation_members() {
        let w = Workload::new(Operation::Sign, "k", 32, "ECDSA_SHA_256", "HMAC_SHA_256").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[0]).unwrap();
        assert_eq!(v["MessageType"], "RAW");
        assert_eq!(v["SigningAlgorithm"], "ECDSA_SHA_256");
        assert_eq!(v["Message"].as_str().unwrap().len(), 44);
        assert_eq!(w.describe(), "Sign ECDSA_SHA_256");

        let w = Workload::new(Operation::GenerateMac, "k", 64, "x", "HMAC_SHA_256").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[0]).unwrap();
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
            "/Signature"
        ));
        assert!(!has_result(
            br#"{"Signature":"","KeyId":"k"}"#,
            "/Signature"
        ));
        assert!(!has_result(br#"{"KeyId":"k"}"#, "/Signature"));
        assert!(!has_result(b"not json", "/Mac"));
        assert!(has_result(
            br#"{"Parameter":{"Value":"v"}}"#,
            "/Parameter/Value"
        ));
        assert!(has_result(
            br#"{"Version":3,"Tier":"Standard"}"#,
            "/Version"
        ));
        assert!(!has_result(br#"{"Parameters":[]}"#, "/Parameters/0/Name"));
    }

    #[test]
    fn parameter_store_bodies() {
        let p = Parameters {
            prefix: "/bench/s",
            count: 3,
        };
        let w = Workload::ssm(Operation::GetParameterDecrypted, &p, 32).unwrap();
        assert_eq!(w.bodies.len(), 3);
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[2]).unwrap();
        assert_eq!(v["Name"], "/bench/s/p00002");
        assert_eq!(v["WithDecryption"], true);
        let w = Workload::ssm(Operation::PutParameter, &p, 10).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[0]).unwrap();
        assert_eq!(
            (v["Overwrite"].clone(), v["Value"].as_str().unwrap().len()),
            (serde_json::json!(true), 10)
        );
        assert_eq!(Operation::PutParameter.target(), "AmazonSSM.PutParameter");
        assert_eq!(Operation::Sign.service(), "kms");
        assert!(Workload::ssm(Operation::Encrypt, &p, 10).is_err());
        assert!(Workload::new(Operation::GetParameter, "k", 10, "x", "y").is_err());
    }

    #[test]
    fn secrets_manager_bodies() {
        let p = Parameters {
            prefix: "bench/sm",
            count: 2,
        };
        let w = Workload::ssm(Operation::GetSecretValue, &p, 32).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[1]).unwrap();
        assert_eq!(v, serde_json::json!({ "SecretId": "bench/sm/p00001" }));
        let w = Workload::ssm(Operation::PutSecretValue, &p, 12).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[0]).unwrap();
        assert_eq!(v["SecretString"].as_str().unwrap().len(), 12);
        assert_eq!(
            Operation::GetSecretValue.target(),
            "secretsmanager.GetSecretValue"
        );
        assert_eq!(Operation::PutSecretValue.service(), "secretsmanager");
        assert!(Operation::GetSecretValue.is_named());
        assert!(Workload::new(Operation::PutSecretValue, "k", 10, "x", "y").is_err());
    }
}
