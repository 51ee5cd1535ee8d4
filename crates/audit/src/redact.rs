//! What of a request and its response goes into a record: an allow-list per service and
//! operation.
//!
//! Only members named here are copied, so an operation added to a service records nothing of
//! its request or response until someone lists what is safe, and a member added to an
//! operation stays out until listed. The lists follow what CloudTrail records for each
//! operation: key ids, algorithms, encryption contexts, names and types, never a plaintext,
//! a data key, a parameter or secret value, a private key, a grant token, a message to sign, a
//! MAC, random bytes or credentials. Responses are recorded only for the operations that
//! CloudTrail records them for, and never for read-only ones.

use serde_json::{Map, Value};

/// A request body as decoded for the record.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Body {
    /// Nothing decodable (malformed, or not read).
    #[default]
    None,
    /// A JSON 1.1 request body.
    Json(Value),
    /// Query-protocol parameters (IAM, STS).
    Query(Vec<(String, String)>),
}

/// One operation's entry: whether CloudTrail marks it read-only, and the request and response
/// members recorded.
struct Op {
    name: &'static str,
    read_only: bool,
    request: &'static [&'static str],
    response: &'static [&'static str],
}

const fn op(
    name: &'static str,
    read_only: bool,
    request: &'static [&'static str],
    response: &'static [&'static str],
) -> Op {
    Op {
        name,
        read_only,
        request,
        response,
    }
}

const RO: bool = true;
const RW: bool = false;

const KMS: &[Op] = &[
    op("CancelKeyDeletion", RW, &["KeyId"], &["KeyId"]),
    op("CreateAlias", RW, &["AliasName", "TargetKeyId"], &[]),
    op(
        "CreateGrant",
        RW,
        &[
            "KeyId",
            "GranteePrincipal",
            "RetiringPrincipal",
            "Operations",
            "Constraints",
            "Name",
        ],
        &["GrantId"],
    ),
    op(
        "CreateKey",
        RW,
        &[
            "Description",
            "KeySpec",
            "KeyUsage",
            "Origin",
            "MultiRegion",
            "BypassPolicyLockoutSafetyCheck",
            "Policy",
            "Tags",
        ],
        &["KeyMetadata"],
    ),
    op(
        "Decrypt",
        RO,
        &["KeyId", "EncryptionAlgorithm", "EncryptionContext"],
        &[],
    ),
    op("DeleteAlias", RW, &["AliasName"], &[]),
    op("DeleteImportedKeyMaterial", RW, &["KeyId"], &[]),
    op(
        "DeriveSharedSecret",
        RO,
        &["KeyId", "KeyAgreementAlgorithm"],
        &[],
    ),
    op("DescribeKey", RO, &["KeyId"], &[]),
    op("DisableKey", RW, &["KeyId"], &[]),
    op("DisableKeyRotation", RW, &["KeyId"], &[]),
    op("EnableKey", RW, &["KeyId"], &[]),
    op(
        "EnableKeyRotation",
        RW,
        &["KeyId", "RotationPeriodInDays"],
        &[],
    ),
    op(
        "Encrypt",
        RO,
        &["KeyId", "EncryptionAlgorithm", "EncryptionContext"],
        &[],
    ),
    op(
        "GenerateDataKey",
        RO,
        &["KeyId", "KeySpec", "NumberOfBytes", "EncryptionContext"],
        &[],
    ),
    op(
        "GenerateDataKeyPair",
        RO,
        &["KeyId", "KeyPairSpec", "EncryptionContext"],
        &[],
    ),
    op(
        "GenerateDataKeyPairWithoutPlaintext",
        RO,
        &["KeyId", "KeyPairSpec", "EncryptionContext"],
        &[],
    ),
    op(
        "GenerateDataKeyWithoutPlaintext",
        RO,
        &["KeyId", "KeySpec", "NumberOfBytes", "EncryptionContext"],
        &[],
    ),
    op("GenerateMac", RO, &["KeyId", "MacAlgorithm"], &[]),
    op("GenerateRandom", RO, &["NumberOfBytes"], &[]),
    op("GetKeyLastUsage", RO, &["KeyId"], &[]),
    op("GetKeyPolicy", RO, &["KeyId", "PolicyName"], &[]),
    op("GetKeyRotationStatus", RO, &["KeyId"], &[]),
    op(
        "GetParametersForImport",
        RO,
        &["KeyId", "WrappingAlgorithm", "WrappingKeySpec"],
        &[],
    ),
    op("GetPublicKey", RO, &["KeyId"], &[]),
    op(
        "ImportKeyMaterial",
        RW,
        &["KeyId", "ValidTo", "ExpirationModel"],
        &[],
    ),
    op("ListAliases", RO, &["KeyId", "Limit"], &[]),
    op(
        "ListGrants",
        RO,
        &["KeyId", "GrantId", "GranteePrincipal", "Limit"],
        &[],
    ),
    op("ListKeyPolicies", RO, &["KeyId", "Limit"], &[]),
    op("ListKeyRotations", RO, &["KeyId", "Limit"], &[]),
    op("ListKeys", RO, &["Limit"], &[]),
    op("ListResourceTags", RO, &["KeyId", "Limit"], &[]),
    op(
        "ListRetirableGrants",
        RO,
        &["RetiringPrincipal", "Limit"],
        &[],
    ),
    op(
        "PutKeyPolicy",
        RW,
        &[
            "KeyId",
            "PolicyName",
            "Policy",
            "BypassPolicyLockoutSafetyCheck",
        ],
        &[],
    ),
    op(
        "ReEncrypt",
        RO,
        &[
            "SourceKeyId",
            "DestinationKeyId",
            "SourceEncryptionContext",
            "DestinationEncryptionContext",
            "SourceEncryptionAlgorithm",
            "DestinationEncryptionAlgorithm",
        ],
        &[],
    ),
    op(
        "ReplicateKey",
        RW,
        &["KeyId", "ReplicaRegion", "Description", "Tags"],
        &[],
    ),
    // The grant token is a bearer credential: only the ids.
    op("RetireGrant", RW, &["KeyId", "GrantId"], &[]),
    op("RevokeGrant", RW, &["KeyId", "GrantId"], &[]),
    op("RotateKeyOnDemand", RW, &["KeyId"], &["KeyId"]),
    op(
        "ScheduleKeyDeletion",
        RW,
        &["KeyId", "PendingWindowInDays"],
        &["KeyId", "DeletionDate", "KeyState", "PendingWindowInDays"],
    ),
    op(
        "Sign",
        RO,
        &["KeyId", "SigningAlgorithm", "MessageType"],
        &[],
    ),
    op("TagResource", RW, &["KeyId", "Tags"], &[]),
    op("UntagResource", RW, &["KeyId", "TagKeys"], &[]),
    op("UpdateAlias", RW, &["AliasName", "TargetKeyId"], &[]),
    op("UpdateKeyDescription", RW, &["KeyId", "Description"], &[]),
    op("UpdatePrimaryRegion", RW, &["KeyId", "PrimaryRegion"], &[]),
    op(
        "Verify",
        RO,
        &["KeyId", "SigningAlgorithm", "MessageType"],
        &[],
    ),
    op("VerifyMac", RO, &["KeyId", "MacAlgorithm"], &[]),
];

const SSM: &[Op] = &[
    op(
        "AddTagsToResource",
        RW,
        &["ResourceType", "ResourceId", "Tags"],
        &[],
    ),
    op("DeleteParameter", RW, &["Name"], &[]),
    op(
        "DeleteParameters",
        RW,
        &["Names"],
        &["DeletedParameters", "InvalidParameters"],
    ),
    op(
        "DescribeParameters",
        RO,
        &["Filters", "ParameterFilters", "MaxResults", "Shared"],
        &[],
    ),
    op("GetParameter", RO, &["Name", "WithDecryption"], &[]),
    op(
        "GetParameterHistory",
        RO,
        &["Name", "WithDecryption", "MaxResults"],
        &[],
    ),
    op("GetParameters", RO, &["Names", "WithDecryption"], &[]),
    op(
        "GetParametersByPath",
        RO,
        &[
            "Path",
            "Recursive",
            "ParameterFilters",
            "WithDecryption",
            "MaxResults",
        ],
        &[],
    ),
    op(
        "LabelParameterVersion",
        RW,
        &["Name", "ParameterVersion", "Labels"],
        &["InvalidLabels", "ParameterVersion"],
    ),
    op(
        "ListTagsForResource",
        RO,
        &["ResourceType", "ResourceId"],
        &[],
    ),
    // Never `Value`.
    op(
        "PutParameter",
        RW,
        &[
            "Name",
            "Description",
            "Type",
            "KeyId",
            "Overwrite",
            "AllowedPattern",
            "Tags",
            "Tier",
            "Policies",
            "DataType",
        ],
        &["Version", "Tier"],
    ),
    op(
        "RemoveTagsFromResource",
        RW,
        &["ResourceType", "ResourceId", "TagKeys"],
        &[],
    ),
    op(
        "UnlabelParameterVersion",
        RW,
        &["Name", "ParameterVersion", "Labels"],
        &["InvalidLabels", "RemovedLabels"],
    ),
];

/// IAM (Query protocol). Responses are XML and not recorded; CreateAccessKey's secret is in
/// the response only, and no request member carries a secret.
const IAM: &[Op] = &[
    op("AttachRolePolicy", RW, &["RoleName", "PolicyArn"], &[]),
    op("AttachUserPolicy", RW, &["UserName", "PolicyArn"], &[]),
    op("CreateAccessKey", RW, &["UserName"], &[]),
    op(
        "CreatePolicy",
        RW,
        &["PolicyName", "Path", "Description", "PolicyDocument"],
        &[],
    ),
    op(
        "CreateRole",
        RW,
        &[
            "RoleName",
            "Path",
            "Description",
            "AssumeRolePolicyDocument",
            "MaxSessionDuration",
            "PermissionsBoundary",
        ],
        &[],
    ),
    op(
        "CreateUser",
        RW,
        &["UserName", "Path", "PermissionsBoundary"],
        &[],
    ),
    op("DeleteAccessKey", RW, &["UserName", "AccessKeyId"], &[]),
    op("DeletePolicy", RW, &["PolicyArn"], &[]),
    op("DeleteRole", RW, &["RoleName"], &[]),
    op("DeleteRolePolicy", RW, &["RoleName", "PolicyName"], &[]),
    op("DeleteUser", RW, &["UserName"], &[]),
    op("DeleteUserPolicy", RW, &["UserName", "PolicyName"], &[]),
    op("DetachRolePolicy", RW, &["RoleName", "PolicyArn"], &[]),
    op("DetachUserPolicy", RW, &["UserName", "PolicyArn"], &[]),
    op("GetPolicy", RO, &["PolicyArn"], &[]),
    op("GetPolicyVersion", RO, &["PolicyArn", "VersionId"], &[]),
    op("GetRole", RO, &["RoleName"], &[]),
    op("GetRolePolicy", RO, &["RoleName", "PolicyName"], &[]),
    op("GetUser", RO, &["UserName"], &[]),
    op("GetUserPolicy", RO, &["UserName", "PolicyName"], &[]),
    op(
        "ListAccessKeys",
        RO,
        &["UserName", "Marker", "MaxItems"],
        &[],
    ),
    op(
        "ListAttachedRolePolicies",
        RO,
        &["RoleName", "PathPrefix", "Marker", "MaxItems"],
        &[],
    ),
    op(
        "ListAttachedUserPolicies",
        RO,
        &["UserName", "PathPrefix", "Marker", "MaxItems"],
        &[],
    ),
    op(
        "ListRolePolicies",
        RO,
        &["RoleName", "Marker", "MaxItems"],
        &[],
    ),
    op("ListRoleTags", RO, &["RoleName", "Marker", "MaxItems"], &[]),
    op("ListRoles", RO, &["PathPrefix", "Marker", "MaxItems"], &[]),
    op(
        "ListUserPolicies",
        RO,
        &["UserName", "Marker", "MaxItems"],
        &[],
    ),
    op("ListUserTags", RO, &["UserName", "Marker", "MaxItems"], &[]),
    op("ListUsers", RO, &["PathPrefix", "Marker", "MaxItems"], &[]),
    op(
        "PutRolePolicy",
        RW,
        &["RoleName", "PolicyName", "PolicyDocument"],
        &[],
    ),
    op(
        "PutUserPolicy",
        RW,
        &["UserName", "PolicyName", "PolicyDocument"],
        &[],
    ),
    op("TagRole", RW, &["RoleName"], &[]),
    op("TagUser", RW, &["UserName"], &[]),
    op("UntagRole", RW, &["RoleName"], &[]),
    op("UntagUser", RW, &["UserName"], &[]),
    op(
        "UpdateAccessKey",
        RW,
        &["UserName", "AccessKeyId", "Status"],
        &[],
    ),
];

/// STS. The response carries credentials: never recorded. `TokenCode` (an MFA code) and
/// `ExternalId` (a shared secret between accounts) are left out.
const STS: &[Op] = &[
    op(
        "AssumeRole",
        RW,
        &[
            "RoleArn",
            "RoleSessionName",
            "DurationSeconds",
            "SourceIdentity",
        ],
        &[],
    ),
    op("GetCallerIdentity", RO, &[], &[]),
];

/// Secrets Manager: secret ids, version ids and stages, names, keys and settings; never
/// `SecretString`, `SecretBinary`, a generated password or a resource policy's text.
const SECRETS: &[Op] = &[
    op(
        "BatchGetSecretValue",
        RO,
        &["SecretIdList", "Filters", "MaxResults"],
        &[],
    ),
    op(
        "CancelRotateSecret",
        RW,
        &["SecretId"],
        &["ARN", "Name", "VersionId"],
    ),
    op(
        "CreateSecret",
        RW,
        &[
            "Name",
            "ClientRequestToken",
            "Description",
            "KmsKeyId",
            "Tags",
            "AddReplicaRegions",
            "ForceOverwriteReplicaSecret",
        ],
        &["ARN", "Name", "VersionId", "ReplicationStatus"],
    ),
    op("DeleteResourcePolicy", RW, &["SecretId"], &["ARN", "Name"]),
    op(
        "DeleteSecret",
        RW,
        &[
            "SecretId",
            "RecoveryWindowInDays",
            "ForceDeleteWithoutRecovery",
        ],
        &["ARN", "Name", "DeletionDate"],
    ),
    op("DescribeSecret", RO, &["SecretId"], &[]),
    op(
        "GetRandomPassword",
        RO,
        &[
            "PasswordLength",
            "ExcludeCharacters",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "ExcludeLowercase",
            "IncludeSpace",
            "RequireEachIncludedType",
        ],
        &[],
    ),
    op("GetResourcePolicy", RO, &["SecretId"], &[]),
    op(
        "GetSecretValue",
        RO,
        &["SecretId", "VersionId", "VersionStage"],
        &[],
    ),
    op(
        "ListSecrets",
        RO,
        &[
            "IncludePlannedDeletion",
            "MaxResults",
            "Filters",
            "SortOrder",
        ],
        &[],
    ),
    op(
        "ListSecretVersionIds",
        RO,
        &["SecretId", "MaxResults", "IncludeDeprecated"],
        &[],
    ),
    op(
        "PutResourcePolicy",
        RW,
        &["SecretId", "BlockPublicPolicy"],
        &["ARN", "Name"],
    ),
    op(
        "PutSecretValue",
        RW,
        &["SecretId", "ClientRequestToken", "VersionStages"],
        &["ARN", "Name", "VersionId", "VersionStages"],
    ),
    op(
        "RemoveRegionsFromReplication",
        RW,
        &["SecretId", "RemoveReplicaRegions"],
        &["ARN", "ReplicationStatus"],
    ),
    op(
        "ReplicateSecretToRegions",
        RW,
        &[
            "SecretId",
            "AddReplicaRegions",
            "ForceOverwriteReplicaSecret",
        ],
        &["ARN", "ReplicationStatus"],
    ),
    op("RestoreSecret", RW, &["SecretId"], &["ARN", "Name"]),
    op("StopReplicationToReplica", RW, &["SecretId"], &["ARN"]),
    op(
        "RotateSecret",
        RW,
        &[
            "SecretId",
            "ClientRequestToken",
            "RotationLambdaARN",
            "RotationRules",
            "RotateImmediately",
        ],
        &["ARN", "Name", "VersionId"],
    ),
    op("TagResource", RW, &["SecretId", "Tags"], &[]),
    op("UntagResource", RW, &["SecretId", "TagKeys"], &[]),
    op(
        "UpdateSecret",
        RW,
        &["SecretId", "ClientRequestToken", "Description", "KmsKeyId"],
        &["ARN", "Name", "VersionId"],
    ),
    op(
        "UpdateSecretVersionStage",
        RW,
        &[
            "SecretId",
            "VersionStage",
            "RemoveFromVersionId",
            "MoveToVersionId",
        ],
        &["ARN", "Name"],
    ),
    op("ValidateResourcePolicy", RO, &["SecretId"], &[]),
];

const CLOUDTRAIL: &[Op] = &[op(
    "LookupEvents",
    RO,
    &[
        "LookupAttributes",
        "StartTime",
        "EndTime",
        "EventCategory",
        "MaxResults",
    ],
    &[],
)];

/// Trent's operator actions (signing name `trent`): `Seal` takes no parameters.
const OPERATOR: &[Op] = &[op("Seal", RW, &[], &[])];

/// The allow-lists by SigV4 signing name. A service not listed records no request or response
/// members.
fn table(service: &str) -> &'static [Op] {
    match service {
        "kms" => KMS,
        "ssm" => SSM,
        "secretsmanager" => SECRETS,
        "iam" => IAM,
        "sts" => STS,
        "cloudtrail" => CLOUDTRAIL,
        "trent" => OPERATOR,
        _ => &[],
    }
}

fn find(service: &str, operation: &str) -> Option<&'static Op> {
    table(service).iter().find(|o| o.name == operation)
}

/// Whether CloudTrail marks the operation read-only. Operations not listed are judged by
/// their verb.
pub fn read_only(service: &str, operation: &str) -> bool {
    match find(service, operation) {
        Some(o) => o.read_only,
        None => ["Get", "List", "Describe", "Lookup"]
            .iter()
            .any(|p| operation.starts_with(p)),
    }
}

/// The request members an operation records: what the server needs to keep of a Query-protocol
/// request (nothing else of it is kept).
pub fn request_members(service: &str, operation: &str) -> &'static [&'static str] {
    find(service, operation).map_or(&[], |o| o.request)
}

pub(crate) fn records_request(service: &str, operation: &str) -> bool {
    find(service, operation).is_some_and(|o| !o.request.is_empty())
}

pub(crate) fn records_response(service: &str, operation: &str) -> bool {
    find(service, operation).is_some_and(|o| !o.response.is_empty())
}

/// `KeyId` → `keyId`, as CloudTrail names members.
fn lower_camel(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn pick(members: &[&str], body: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for m in members {
        if let Some(v) = body.get(*m) {
            out.insert(lower_camel(m), v.clone());
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// `requestParameters`: the listed members of the request, or null.
pub fn request_parameters(service: &str, operation: &str, body: &Body) -> Value {
    let Some(op) = find(service, operation) else {
        return Value::Null;
    };
    match body {
        Body::None => Value::Null,
        Body::Json(Value::Object(m)) => pick(op.request, m),
        Body::Json(_) => Value::Null,
        Body::Query(params) => {
            let mut out = Map::new();
            for m in op.request {
                if let Some((_, v)) = params.iter().find(|(k, _)| k == m) {
                    out.insert(lower_camel(m), Value::String(v.clone()));
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
    }
}

/// `responseElements`: the listed members of a successful JSON response, or null.
pub fn response_elements(service: &str, operation: &str, response: Option<&Value>) -> Value {
    match (find(service, operation), response) {
        (Some(op), Some(Value::Object(m))) if !op.read_only => pick(op.response, m),
        _ => Value::Null,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Members that carry secrets in some operation: none may be listed anywhere.
    const NEVER: &[&str] = &[
        "Plaintext",
        "CiphertextBlob",
        "Message",
        "Mac",
        "Signature",
        "Value",
        "SecretString",
        "SecretBinary",
        "RandomPassword",
        "PrivateKeyPlaintext",
        "PrivateKeyCiphertextBlob",
        "EncryptedKeyMaterial",
        "ImportToken",
        "GrantToken",
        "GrantTokens",
        "SecretAccessKey",
        "SessionToken",
        "Credentials",
        "TokenCode",
        "ExternalId",
        "SharedSecret",
        "PublicKey",
        "AccessKey",
    ];

    #[test]
    fn no_secret_member_is_listed() {
        for service in [
            "kms",
            "ssm",
            "secretsmanager",
            "iam",
            "sts",
            "cloudtrail",
            "trent",
        ] {
            for op in table(service) {
                for m in op.request.iter().chain(op.response) {
                    assert!(!NEVER.contains(m), "{service} {} lists {m}", op.name);
                }
            }
        }
    }

    #[test]
    fn every_served_operation_is_listed_once() {
        for service in ["kms", "ssm", "secretsmanager", "iam", "sts"] {
            let ops = table(service);
            for (i, o) in ops.iter().enumerate() {
                assert!(
                    ops.iter().skip(i + 1).all(|p| p.name != o.name),
                    "{service} {} twice",
                    o.name
                );
            }
        }
    }

    #[test]
    fn unknown_operations_record_nothing() {
        let body = Body::Json(json!({"KeyId": "k", "Plaintext": "cw=="}));
        assert_eq!(
            request_parameters("kms", "NewOperation", &body),
            Value::Null
        );
        assert_eq!(
            request_parameters("acm", "GetCertificate", &body),
            Value::Null
        );
    }

    #[test]
    fn secret_values_are_never_recorded() {
        let body = Body::Json(json!({"Name": "db", "SecretString": "hunter2",
                                     "SecretBinary": "aHVudGVyMg==", "KmsKeyId": "alias/k"}));
        assert_eq!(
            request_parameters("secretsmanager", "CreateSecret", &body),
            json!({"name": "db", "kmsKeyId": "alias/k"})
        );
        let body = Body::Json(json!({"SecretId": "db", "SecretString": "hunter2"}));
        assert_eq!(
            request_parameters("secretsmanager", "PutSecretValue", &body),
            json!({"secretId": "db"})
        );
        assert!(read_only("secretsmanager", "GetSecretValue"));
        assert!(!records_response("secretsmanager", "GetSecretValue"));
    }

    #[test]
    fn encrypt_records_the_key_and_context_only() {
        let body = Body::Json(json!({
            "KeyId": "alias/a",
            "Plaintext": "c2VjcmV0",
            "EncryptionContext": {"dept": "x"},
            "GrantTokens": ["t"],
        }));
        assert_eq!(
            request_parameters("kms", "Encrypt", &body),
            json!({"keyId": "alias/a", "encryptionContext": {"dept": "x"}})
        );
        assert_eq!(
            response_elements("kms", "Encrypt", Some(&json!({"CiphertextBlob": "x"}))),
            Value::Null
        );
    }

    #[test]
    fn put_parameter_never_records_the_value() {
        let body = Body::Json(json!({"Name": "/a", "Value": "hunter2", "Type": "SecureString"}));
        let p = request_parameters("ssm", "PutParameter", &body);
        assert_eq!(p, json!({"name": "/a", "type": "SecureString"}));
    }

    #[test]
    fn query_parameters_are_picked_by_name() {
        let body = Body::Query(vec![
            ("Action".into(), "CreateUser".into()),
            ("UserName".into(), "bob".into()),
        ]);
        assert_eq!(
            request_parameters("iam", "CreateUser", &body),
            json!({"userName": "bob"})
        );
    }
}
