//! Policies from AWS's IAM User Guide and KMS Developer Guide, with the decisions the guides
//! document for them. Each row: a policy, a request, the expected decision.

use std::net::IpAddr;

use trent_policy::{
    Caller, Decision, ParseOptions, Policy, PrincipalMatch, RequestContext, Timestamp, evaluate,
};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Allow,
    Deny,
    Implicit,
}
use Want::*;

struct Table {
    rows: usize,
    failures: Vec<String>,
}

impl Table {
    fn new() -> Self {
        Table {
            rows: 0,
            failures: Vec::new(),
        }
    }

    fn check(
        &mut self,
        name: &str,
        options: ParseOptions,
        policy: &str,
        ctx: RequestContext,
        want: Want,
    ) {
        self.rows += 1;
        let policy = match Policy::parse(policy, options) {
            Ok(p) => p,
            Err(e) => {
                self.failures.push(format!("{name}: policy refused: {e}"));
                return;
            }
        };
        let got = match policy.evaluate(&ctx) {
            Decision::Allow(_) => Allow,
            Decision::ExplicitDeny(_) => Deny,
            Decision::ImplicitDeny => Implicit,
        };
        if got != want {
            self.failures
                .push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }

    fn finish(self, at_least: usize) {
        assert!(
            self.failures.is_empty(),
            "failures:\n{}",
            self.failures.join("\n")
        );
        assert!(self.rows >= at_least, "only {} rows", self.rows);
    }
}

const KEY: ParseOptions = ParseOptions::KEY_POLICY;
const IAM: ParseOptions = ParseOptions::IDENTITY;

/// KMS Developer Guide, "Default key policy".
const DEFAULT_KEY_POLICY: &str = r#"{
  "Version": "2012-10-17", "Id": "key-default-1",
  "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]
}"#;

/// KMS Developer Guide, "Default key policy": key administrators and key users.
const ADMINS_AND_USERS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:user/Bob"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:role/ExampleRole", "arn:aws:iam::444455556666:root"]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/ExampleRole"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
}"#;

#[test]
fn kms_key_policies() {
    let mut t = Table::new();

    // Default key policy: the root is allowed directly, account users through delegation, other
    // accounts not at all.
    t.check(
        "default: root",
        KEY,
        DEFAULT_KEY_POLICY,
        request(aws(ROOT), "kms:PutKeyPolicy", KEY_ARN),
        Allow,
    );
    t.check(
        "default: same-account user",
        KEY,
        DEFAULT_KEY_POLICY,
        request(aws(ALICE), "kms:Decrypt", KEY_ARN),
        Allow,
    );
    t.check(
        "default: other account",
        KEY,
        DEFAULT_KEY_POLICY,
        request(aws(OTHER_USER), "kms:Decrypt", KEY_ARN),
        Implicit,
    );

    t.check(
        "admins: Put* covers PutKeyPolicy",
        KEY,
        ADMINS_AND_USERS,
        request(aws(BOB), "kms:PutKeyPolicy", KEY_ARN),
        Allow,
    );
    t.check(
        "admins: no cryptographic use",
        KEY,
        ADMINS_AND_USERS,
        request(aws(BOB), "kms:Decrypt", KEY_ARN),
        Implicit,
    );
    t.check(
        "users: a role's session",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "kms:ReEncryptFrom", KEY_ARN),
        Allow,
    );
    t.check(
        "users: action case does not matter",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "KMS:generatedatakeywithoutplaintext", KEY_ARN),
        Allow,
    );
    t.check(
        "users: not an admin",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "kms:ScheduleKeyDeletion", KEY_ARN),
        Implicit,
    );
    t.check(
        "users: external account",
        KEY,
        ADMINS_AND_USERS,
        request(aws(OTHER_USER), "kms:Decrypt", KEY_ARN),
        Allow,
    );
    t.check(
        "grants: for an AWS resource",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "kms:CreateGrant", KEY_ARN).with("kms:GrantIsForAWSResource", true),
        Allow,
    );
    t.check(
        "grants: not for an AWS resource",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "kms:CreateGrant", KEY_ARN).with("kms:GrantIsForAWSResource", false),
        Implicit,
    );
    t.check(
        "grants: key absent",
        KEY,
        ADMINS_AND_USERS,
        request(aws(SESSION), "kms:CreateGrant", KEY_ARN),
        Implicit,
    );

    // KMS: "kms:ViaService" and "kms:CallerAccount" (AWS managed key policy shape).
    let managed = r#"{"Version": "2012-10-17", "Statement": [{
        "Sid": "Allow access through EBS", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "ec2.us-west-2.amazonaws.com"}}}]}"#;
    t.check(
        "ViaService: through EC2",
        KEY,
        managed,
        request(aws(ALICE), "kms:Decrypt", KEY_ARN)
            .with("kms:CallerAccount", "111122223333")
            .with("kms:ViaService", "ec2.us-west-2.amazonaws.com"),
        Allow,
    );
    t.check(
        "ViaService: direct call",
        KEY,
        managed,
        request(aws(ALICE), "kms:Decrypt", KEY_ARN).with("kms:CallerAccount", "111122223333"),
        Implicit,
    );
    t.check(
        "CallerAccount: other account",
        KEY,
        managed,
        request(aws(OTHER_USER), "kms:Decrypt", KEY_ARN)
            .with("kms:CallerAccount", "444455556666")
            .with("kms:ViaService", "ec2.us-west-2.amazonaws.com"),
        Implicit,
    );

    // KMS: kms:EncryptionContext:context-key.
    let ec = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/ExampleRole"}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:AppName": ["ExampleApp", "OtherApp"]}}}]}"#;
    t.check(
        "EncryptionContext: one of the values",
        KEY,
        ec,
        request(aws(SESSION), "kms:Decrypt", KEY_ARN)
            .with("kms:encryptioncontext:appname", "OtherApp"),
        Allow,
    );
    t.check(
        "EncryptionContext: values are case-sensitive",
        KEY,
        ec,
        request(aws(SESSION), "kms:Decrypt", KEY_ARN)
            .with("kms:EncryptionContext:AppName", "exampleapp"),
        Implicit,
    );
    t.check(
        "EncryptionContext: absent",
        KEY,
        ec,
        request(aws(SESSION), "kms:Decrypt", KEY_ARN),
        Implicit,
    );

    // KMS: kms:EncryptionContextKeys with ForAllValues — and the empty-set pitfall.
    let all_keys = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/ExampleRole"}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]}}}]}"#;
    t.check(
        "ForAllValues: a subset",
        KEY,
        all_keys,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN)
            .with_multi("kms:EncryptionContextKeys", ["AppName"]),
        Allow,
    );
    t.check(
        "ForAllValues: an extra key",
        KEY,
        all_keys,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN)
            .with_multi("kms:EncryptionContextKeys", ["AppName", "Owner"]),
        Implicit,
    );
    t.check(
        "ForAllValues: empty set is true",
        KEY,
        all_keys,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN)
            .with_multi("kms:EncryptionContextKeys", Vec::<String>::new()),
        Allow,
    );
    t.check(
        "ForAllValues: absent key is true",
        KEY,
        all_keys,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN),
        Allow,
    );
    let all_keys_not_null = all_keys.replace(
        r#""ForAllValues:StringEquals""#,
        r#""Null": {"kms:EncryptionContextKeys": "false"}, "ForAllValues:StringEquals""#,
    );
    t.check(
        "ForAllValues + Null:false: absent key",
        KEY,
        &all_keys_not_null,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN),
        Implicit,
    );
    t.check(
        "ForAllValues + Null:false: present",
        KEY,
        &all_keys_not_null,
        request(aws(SESSION), "kms:Encrypt", KEY_ARN)
            .with_multi("kms:EncryptionContextKeys", ["FilePath"]),
        Allow,
    );

    // KMS: ForAnyValue with kms:ResourceAliases.
    let any_alias = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/finance*"}}}]}"#;
    t.check(
        "ForAnyValue: one alias matches",
        KEY,
        any_alias,
        request(aws(ROOT), "kms:Decrypt", KEY_ARN)
            .with_multi("kms:ResourceAliases", ["alias/hr", "alias/finance-reports"]),
        Allow,
    );
    t.check(
        "ForAnyValue: none matches",
        KEY,
        any_alias,
        request(aws(ROOT), "kms:Decrypt", KEY_ARN).with_multi("kms:ResourceAliases", ["alias/hr"]),
        Implicit,
    );
    t.check(
        "ForAnyValue: absent is false",
        KEY,
        any_alias,
        request(aws(ROOT), "kms:Decrypt", KEY_ARN),
        Implicit,
    );

    // KMS: kms:GrantOperations — grants may only be created for a subset of operations.
    let grant_ops = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:user/Alice"}, "Action": "kms:CreateGrant", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]},
                      "Null": {"kms:GrantOperations": "false"}}}]}"#;
    t.check(
        "GrantOperations: subset",
        KEY,
        grant_ops,
        request(aws(ALICE), "kms:CreateGrant", KEY_ARN)
            .with_multi("kms:GrantOperations", ["Decrypt"]),
        Allow,
    );
    t.check(
        "GrantOperations: RetireGrant is not in the set",
        KEY,
        grant_ops,
        request(aws(ALICE), "kms:CreateGrant", KEY_ARN)
            .with_multi("kms:GrantOperations", ["Decrypt", "RetireGrant"]),
        Implicit,
    );

    // KMS: a Deny with a negated operator applies when the key is absent.
    let algorithm = r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "OnlyOaepSha256", "Effect": "Deny", "Principal": "*", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}}]}"#;
    t.check(
        "StringNotEquals deny: other algorithm",
        KEY,
        algorithm,
        request(aws(ROOT), "kms:Encrypt", KEY_ARN)
            .with("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_1"),
        Deny,
    );
    t.check(
        "StringNotEquals deny: absent key denies",
        KEY,
        algorithm,
        request(aws(ROOT), "kms:Encrypt", KEY_ARN),
        Deny,
    );
    t.check(
        "StringNotEquals deny: the allowed algorithm",
        KEY,
        algorithm,
        request(aws(ROOT), "kms:Encrypt", KEY_ARN)
            .with("kms:EncryptionAlgorithm", "RSAES_OAEP_SHA_256"),
        Allow,
    );

    // KMS: numeric keys.
    let window = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
        "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
        "Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "21"}}}]}"#;
    t.check(
        "NumericLessThan: 7 days denied",
        KEY,
        window,
        request(aws(ROOT), "kms:ScheduleKeyDeletion", KEY_ARN)
            .with("kms:ScheduleKeyDeletionPendingWindowInDays", 7),
        Deny,
    );
    t.check(
        "NumericLessThan: 30 days not denied",
        KEY,
        window,
        request(aws(ROOT), "kms:ScheduleKeyDeletion", KEY_ARN)
            .with("kms:ScheduleKeyDeletionPendingWindowInDays", 30),
        Implicit,
    );
    let rotation = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:EnableKeyRotation", "Resource": "*",
        "Condition": {"NumericLessThanEquals": {"kms:RotationPeriodInDays": 180}, "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": 90}}}]}"#;
    t.check(
        "Numeric range: 180 inside",
        KEY,
        rotation,
        request(aws(ROOT), "kms:EnableKeyRotation", KEY_ARN).with("kms:RotationPeriodInDays", 180),
        Allow,
    );
    t.check(
        "Numeric range: 365 outside",
        KEY,
        rotation,
        request(aws(ROOT), "kms:EnableKeyRotation", KEY_ARN)
            .with("kms:RotationPeriodInDays", "365"),
        Implicit,
    );
    t.check(
        "Numeric range: 30 outside",
        KEY,
        rotation,
        request(aws(ROOT), "kms:EnableKeyRotation", KEY_ARN).with("kms:RotationPeriodInDays", 30),
        Implicit,
    );

    // KMS: kms:BypassPolicyLockoutSafetyCheck.
    let bypass = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
        "Action": ["kms:CreateKey", "kms:PutKeyPolicy"], "Resource": "*",
        "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": true}}}]}"#;
    t.check(
        "Bool deny: bypass requested",
        KEY,
        bypass,
        request(aws(ROOT), "kms:PutKeyPolicy", KEY_ARN)
            .with("kms:BypassPolicyLockoutSafetyCheck", "true"),
        Deny,
    );
    t.check(
        "Bool deny: bypass not requested",
        KEY,
        bypass,
        request(aws(ROOT), "kms:PutKeyPolicy", KEY_ARN)
            .with("kms:BypassPolicyLockoutSafetyCheck", false),
        Implicit,
    );

    // KMS: a CloudTrail key policy — a service principal and an ARN pattern in a context key.
    let cloudtrail = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Allow CloudTrail to encrypt logs", "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudtrail:us-west-2:111122223333:trail/my-trail"},
                      "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}}]}"#;
    let trail = |caller: Caller| {
        request(caller, "kms:GenerateDataKey", KEY_ARN)
            .with(
                "aws:SourceArn",
                "arn:aws:cloudtrail:us-west-2:111122223333:trail/my-trail",
            )
            .with(
                "kms:EncryptionContext:aws:cloudtrail:arn",
                "arn:aws:cloudtrail:us-west-2:111122223333:trail/my-trail",
            )
    };
    t.check(
        "service principal",
        KEY,
        cloudtrail,
        trail(Caller::Service("cloudtrail.amazonaws.com".into())),
        Allow,
    );
    t.check(
        "service principal: another service",
        KEY,
        cloudtrail,
        trail(Caller::Service("s3.amazonaws.com".into())),
        Implicit,
    );
    t.check(
        "service principal: an IAM user",
        KEY,
        cloudtrail,
        trail(aws(ROOT)),
        Implicit,
    );

    // KMS: kms:MultiRegion (Bool) and kms:KeySpec on CreateKey, resource "*".
    let create = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
        "Condition": {"Bool": {"kms:MultiRegion": false}, "StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT", "kms:KeyUsage": "ENCRYPT_DECRYPT"}}}]}"#;
    let ctx = |multi: bool, spec: &str| {
        request(aws(ALICE), "kms:CreateKey", "*")
            .with("kms:MultiRegion", multi)
            .with("kms:KeySpec", spec)
            .with("kms:KeyUsage", "ENCRYPT_DECRYPT")
    };
    t.check(
        "CreateKey: single-Region symmetric",
        IAM,
        create,
        ctx(false, "SYMMETRIC_DEFAULT"),
        Allow,
    );
    t.check(
        "CreateKey: multi-Region",
        IAM,
        create,
        ctx(true, "SYMMETRIC_DEFAULT"),
        Implicit,
    );
    t.check(
        "CreateKey: RSA",
        IAM,
        create,
        ctx(false, "RSA_2048"),
        Implicit,
    );

    t.finish(40);
}

#[test]
fn iam_identity_policies() {
    let mut t = Table::new();
    let s3 = |action: &str, resource: &str| request(aws(ALICE), action, resource);

    // IAM: "Allows IAM users to manage their own credentials" — ${aws:username} in Resource.
    let own = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": ["iam:ChangePassword", "iam:*AccessKey*", "iam:GetUser"], "Resource": "arn:aws:iam::*:user/${aws:username}"}]}"#;
    t.check(
        "username: own user",
        IAM,
        own,
        request(aws(ALICE), "iam:CreateAccessKey", ALICE),
        Allow,
    );
    t.check(
        "username: someone else",
        IAM,
        own,
        request(aws(ALICE), "iam:CreateAccessKey", BOB),
        Implicit,
    );
    t.check(
        "username: role sessions have none",
        IAM,
        own,
        request(
            aws(SESSION),
            "iam:GetUser",
            "arn:aws:iam::111122223333:user/session-1",
        ),
        Implicit,
    );
    t.check(
        "username: action outside the list",
        IAM,
        own,
        request(aws(ALICE), "iam:DeleteUser", ALICE),
        Implicit,
    );
    let old = own.replace("2012-10-17", "2008-10-17");
    t.check(
        "username: 2008-10-17 has no variables",
        IAM,
        &old,
        request(aws(ALICE), "iam:GetUser", ALICE),
        Implicit,
    );
    t.check(
        "username: 2008-10-17 reads the text literally",
        IAM,
        &old,
        request(
            aws(ALICE),
            "iam:GetUser",
            "arn:aws:iam::111122223333:user/${aws:username}",
        ),
        Allow,
    );

    // IAM: S3 home folders — a variable inside a StringLike value.
    let home = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::amzn-s3-demo-bucket",
         "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"}]}"#;
    t.check(
        "home: list own folder",
        IAM,
        home,
        s3("s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket")
            .with("s3:prefix", "home/Alice/photos/"),
        Allow,
    );
    t.check(
        "home: list root",
        IAM,
        home,
        s3("s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket").with("s3:prefix", ""),
        Allow,
    );
    t.check(
        "home: list Bob's folder",
        IAM,
        home,
        s3("s3:ListBucket", "arn:aws:s3:::amzn-s3-demo-bucket").with("s3:prefix", "home/Bob/"),
        Implicit,
    );
    t.check(
        "home: get own object",
        IAM,
        home,
        s3(
            "s3:GetObject",
            "arn:aws:s3:::amzn-s3-demo-bucket/home/Alice/a.txt",
        ),
        Allow,
    );
    t.check(
        "home: get Bob's object",
        IAM,
        home,
        s3(
            "s3:GetObject",
            "arn:aws:s3:::amzn-s3-demo-bucket/home/Bob/a.txt",
        ),
        Implicit,
    );

    // IAM ABAC: "aws:ResourceTag/project": "${aws:PrincipalTag/project}".
    let abac = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/project": "${aws:PrincipalTag/project}"}}}]}"#;
    let tagged = |tag: Option<&str>| {
        let mut id = trent_policy::AwsIdentity::from_arn(ALICE).unwrap();
        if let Some(tag) = tag {
            id = id.with_tag("Project", tag);
        }
        request(
            Caller::Aws(id),
            "secretsmanager:GetSecretValue",
            "arn:aws:secretsmanager:us-west-2:111122223333:secret:db-AbCdEf",
        )
        .with("aws:ResourceTag/project", "pegasus")
    };
    t.check(
        "ABAC: matching tags",
        IAM,
        abac,
        tagged(Some("pegasus")),
        Allow,
    );
    t.check(
        "ABAC: different project",
        IAM,
        abac,
        tagged(Some("unicorn")),
        Implicit,
    );
    t.check(
        "ABAC: untagged principal (unresolved variable)",
        IAM,
        abac,
        tagged(None),
        Implicit,
    );
    let abac_deny = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:ResourceTag/project": "${aws:PrincipalTag/project}"}}}]}"#;
    t.check(
        "ABAC deny: unresolved variable makes the negated operator true",
        IAM,
        abac_deny,
        tagged(None),
        Deny,
    );
    t.check(
        "ABAC deny: matching tags",
        IAM,
        abac_deny,
        tagged(Some("pegasus")),
        Implicit,
    );
    let abac_default = abac.replace(
        "${aws:PrincipalTag/project}",
        "${aws:PrincipalTag/project, 'pegasus'}",
    );
    t.check(
        "ABAC: default value",
        IAM,
        &abac_default,
        tagged(None),
        Allow,
    );

    // IAM: "Denies access to AWS based on the source IP".
    let source_ip = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24", "2001:DB8:1234:5678::/64"]},
                      "Bool": {"aws:ViaAWSService": "false"}}}]}"#;
    let from = |ip: &str| {
        s3("kms:Decrypt", KEY_ARN)
            .with("aws:SourceIp", ip.parse::<IpAddr>().unwrap())
            .with("aws:ViaAWSService", false)
    };
    t.check(
        "NotIpAddress: outside",
        IAM,
        source_ip,
        from("198.51.100.7"),
        Deny,
    );
    t.check(
        "NotIpAddress: inside IPv4",
        IAM,
        source_ip,
        from("192.0.2.44"),
        Implicit,
    );
    t.check(
        "NotIpAddress: inside IPv6",
        IAM,
        source_ip,
        from("2001:db8:1234:5678::9"),
        Implicit,
    );
    t.check(
        "NotIpAddress: outside IPv6",
        IAM,
        source_ip,
        from("2001:db8:1234:9999::9"),
        Deny,
    );
    t.check(
        "NotIpAddress: via an AWS service",
        IAM,
        source_ip,
        s3("kms:Decrypt", KEY_ARN)
            .with("aws:SourceIp", "198.51.100.7")
            .with("aws:ViaAWSService", true),
        Implicit,
    );
    let ip_allow = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}"#;
    t.check(
        "IpAddress: inside",
        IAM,
        ip_allow,
        s3("kms:Encrypt", KEY_ARN).with("aws:SourceIp", "10.1.2.3"),
        Allow,
    );
    t.check(
        "IpAddress: not an IP",
        IAM,
        ip_allow,
        s3("kms:Encrypt", KEY_ARN).with("aws:SourceIp", "localhost"),
        Implicit,
    );
    t.check(
        "IpAddress: absent",
        IAM,
        ip_allow,
        s3("kms:Encrypt", KEY_ARN),
        Implicit,
    );

    // IAM: MFA — "BoolIfExists" so that long-term keys (no key at all) are denied too.
    let mfa = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "DenyAllExceptListedIfNoMFA", "Effect": "Deny",
        "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:ListMFADevices", "sts:GetSessionToken"],
        "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]}"#;
    t.check(
        "BoolIfExists: no MFA key",
        IAM,
        mfa,
        s3("s3:GetObject", "arn:aws:s3:::b/k"),
        Deny,
    );
    t.check(
        "BoolIfExists: MFA false",
        IAM,
        mfa,
        s3("s3:GetObject", "arn:aws:s3:::b/k").with("aws:MultiFactorAuthPresent", false),
        Deny,
    );
    t.check(
        "BoolIfExists: MFA true",
        IAM,
        mfa,
        s3("s3:GetObject", "arn:aws:s3:::b/k").with("aws:MultiFactorAuthPresent", true),
        Implicit,
    );
    t.check(
        "NotAction: a listed action",
        IAM,
        mfa,
        s3("iam:EnableMFADevice", "*"),
        Implicit,
    );

    // IAM: "Denies access to AWS based on the requested Region" — NotAction with StringNotEquals.
    let region = r#"{"Version": "2012-10-17", "Statement": [{"Sid": "DenyAllOutsideRequestedRegions", "Effect": "Deny",
        "NotAction": ["cloudfront:*", "iam:*", "route53:*", "support:*"], "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "eu-west-1"]}}}]}"#;
    t.check(
        "region: outside",
        IAM,
        region,
        s3("kms:Encrypt", KEY_ARN).with("aws:RequestedRegion", "us-east-1"),
        Deny,
    );
    t.check(
        "region: inside",
        IAM,
        region,
        s3("kms:Encrypt", KEY_ARN).with("aws:RequestedRegion", "eu-west-1"),
        Implicit,
    );
    t.check(
        "region: global service",
        IAM,
        region,
        s3("iam:CreateUser", "*").with("aws:RequestedRegion", "us-east-1"),
        Implicit,
    );

    // IAM: NotResource — deny everything outside one bucket.
    let one_bucket = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#;
    t.check(
        "NotResource: inside",
        IAM,
        one_bucket,
        s3("s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/x"),
        Allow,
    );
    t.check(
        "NotResource: another bucket",
        IAM,
        one_bucket,
        s3("s3:GetObject", "arn:aws:s3:::other/x"),
        Deny,
    );

    // IAM: dates — "Allows access within specific dates" (aws:CurrentTime).
    let dates = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "service-prefix:action-name", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"}, "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}}]}"#;
    let at = |when: &str| {
        s3("service-prefix:action-name", "*")
            .with("aws:CurrentTime", Timestamp::parse(when).unwrap())
    };
    t.check(
        "dates: inside",
        IAM,
        dates,
        at("2020-05-15T12:00:00Z"),
        Allow,
    );
    t.check(
        "dates: before",
        IAM,
        dates,
        at("2020-03-31T23:59:59Z"),
        Implicit,
    );
    t.check(
        "dates: after (other zone)",
        IAM,
        dates,
        at("2020-06-30T20:00:00-04:00"),
        Implicit,
    );
    t.check(
        "dates: context as text",
        IAM,
        dates,
        s3("service-prefix:action-name", "*").with("aws:CurrentTime", "2020-05-15T12:00:00Z"),
        Allow,
    );
    let token = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThanEquals": {"aws:TokenIssueTime": "1585699200"}}}]}"#;
    t.check(
        "DateLessThanEquals epoch: old session revoked",
        IAM,
        token,
        s3("kms:Decrypt", KEY_ARN).with("aws:TokenIssueTime", "2020-04-01T00:00:00Z"),
        Deny,
    );
    t.check(
        "DateLessThanEquals epoch: new session",
        IAM,
        token,
        s3("kms:Decrypt", KEY_ARN).with("aws:TokenIssueTime", "2020-04-01T00:00:01Z"),
        Implicit,
    );
    let exact = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"DateEquals": {"kms:ValidTo": "2030-01-01"}, "DateNotEquals": {"aws:CurrentTime": "2029-12-31"}, "DateGreaterThanEquals": {"aws:CurrentTime": "2029-01-01T00:00:00+01:00"}}}]}"#;
    t.check(
        "DateEquals/NotEquals/GreaterThanEquals",
        IAM,
        exact,
        s3("kms:ImportKeyMaterial", KEY_ARN)
            .with("kms:ValidTo", 1_893_456_000i64)
            .with("aws:CurrentTime", "2029-06-01T00:00:00Z"),
        Allow,
    );
    t.check(
        "DateNotEquals: equal instant",
        IAM,
        exact,
        s3("kms:ImportKeyMaterial", KEY_ARN)
            .with("kms:ValidTo", 1_893_456_000i64)
            .with("aws:CurrentTime", "2029-12-31T00:00:00Z"),
        Implicit,
    );

    // IAM: Null — only temporary credentials (aws:TokenIssueTime present).
    let temporary = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
        "Condition": {"Null": {"aws:TokenIssueTime": "false"}}}]}"#;
    t.check(
        "Null false: temporary credentials",
        IAM,
        temporary,
        request(aws(SESSION), "ec2:RunInstances", "*")
            .with("aws:TokenIssueTime", "2024-01-01T00:00:00Z"),
        Allow,
    );
    t.check(
        "Null false: long-term credentials",
        IAM,
        temporary,
        s3("ec2:RunInstances", "*"),
        Implicit,
    );

    // IAM: aws:TagKeys on create — ForAllValues restricts, ForAnyValue forbids.
    let tag_keys = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:TagResource", "Resource": "*",
         "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}}},
        {"Effect": "Deny", "Action": "kms:TagResource", "Resource": "*",
         "Condition": {"ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": "Owner"}}}]}"#;
    t.check(
        "TagKeys: allowed keys",
        IAM,
        tag_keys,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["environment"]),
        Allow,
    );
    t.check(
        "TagKeys: an unlisted key",
        IAM,
        tag_keys,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["environment", "team"]),
        Implicit,
    );
    t.check(
        "TagKeys: a forbidden key (any case)",
        IAM,
        tag_keys,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["environment", "OWNER"]),
        Deny,
    );
    let all_not = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:TagResource", "Resource": "*",
        "Condition": {"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}}}]}"#;
    t.check(
        "ForAllValues negated: no reserved keys",
        IAM,
        all_not,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["a", "b"]),
        Allow,
    );
    t.check(
        "ForAllValues negated: one reserved key",
        IAM,
        all_not,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["a", "aws:x"]),
        Implicit,
    );
    let any_not = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:TagResource", "Resource": "*",
        "Condition": {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "a"}}}]}"#;
    t.check(
        "ForAnyValue negated: one other key",
        IAM,
        any_not,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["a", "b"]),
        Allow,
    );
    t.check(
        "ForAnyValue negated: only the listed key",
        IAM,
        any_not,
        s3("kms:TagResource", KEY_ARN).with_multi("aws:TagKeys", ["a"]),
        Implicit,
    );

    // IAM: string operators.
    let strings = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"StringEqualsIgnoreCase": {"aws:PrincipalTag/department": "HR"},
                      "StringNotEqualsIgnoreCase": {"aws:PrincipalTag/level": "INTERN"},
                      "StringNotLike": {"aws:userid": "*:guest-*"}}}]}"#;
    let person = |dept: &str, level: &str, user_id: &str| {
        let id = trent_policy::AwsIdentity::from_arn(SESSION)
            .unwrap()
            .with_tag("department", dept)
            .with_tag("level", level)
            .with_user_id(user_id);
        request(Caller::Aws(id), "s3:GetObject", "arn:aws:s3:::b/k")
    };
    t.check(
        "IgnoreCase: hr employee",
        IAM,
        strings,
        person("hr", "senior", "AROAEXAMPLE:alice"),
        Allow,
    );
    t.check(
        "NotEqualsIgnoreCase: intern",
        IAM,
        strings,
        person("hr", "Intern", "AROAEXAMPLE:alice"),
        Implicit,
    );
    t.check(
        "StringNotLike: guest session",
        IAM,
        strings,
        person("Hr", "senior", "AROAEXAMPLE:guest-7"),
        Implicit,
    );
    let like = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*",
        "Condition": {"StringLike": {"ssm:Name": "/app/?/config-*"}, "StringEqualsIfExists": {"ssm:Tier": "Standard"}}}]}"#;
    t.check(
        "StringLike ?: one character",
        IAM,
        like,
        s3("ssm:GetParameter", "*").with("ssm:Name", "/app/a/config-db"),
        Allow,
    );
    t.check(
        "StringLike ?: two characters",
        IAM,
        like,
        s3("ssm:GetParameter", "*").with("ssm:Name", "/app/ab/config-db"),
        Implicit,
    );
    t.check(
        "StringEqualsIfExists: present and different",
        IAM,
        like,
        s3("ssm:GetParameter", "*")
            .with("ssm:Name", "/app/a/config-db")
            .with("ssm:Tier", "Advanced"),
        Implicit,
    );
    let escapes = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"StringLike": {"app:Pattern": "a${*}b${?}${$}*"}}}]}"#;
    t.check(
        "escapes: literal * ? $",
        IAM,
        escapes,
        s3("x:y", "*").with("app:Pattern", "a*b?$anything"),
        Allow,
    );
    t.check(
        "escapes: * is not a wildcard",
        IAM,
        escapes,
        s3("x:y", "*").with("app:Pattern", "aXb?$"),
        Implicit,
    );

    // IAM: numeric operators (s3:max-keys).
    let max_keys = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
        "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}, "NumericNotEquals": {"s3:max-keys": [3, 4]}, "NumericGreaterThan": {"s3:max-keys": 0}}}]}"#;
    t.check(
        "Numeric: 10",
        IAM,
        max_keys,
        s3("s3:ListBucket", "arn:aws:s3:::b").with("s3:max-keys", 10),
        Allow,
    );
    t.check(
        "Numeric: 11",
        IAM,
        max_keys,
        s3("s3:ListBucket", "arn:aws:s3:::b").with("s3:max-keys", 11),
        Implicit,
    );
    t.check(
        "NumericNotEquals: 4 is excluded",
        IAM,
        max_keys,
        s3("s3:ListBucket", "arn:aws:s3:::b").with("s3:max-keys", "4"),
        Implicit,
    );
    t.check(
        "NumericGreaterThan: 0",
        IAM,
        max_keys,
        s3("s3:ListBucket", "arn:aws:s3:::b").with("s3:max-keys", 0),
        Implicit,
    );
    t.check(
        "Numeric: not a number",
        IAM,
        max_keys,
        s3("s3:ListBucket", "arn:aws:s3:::b").with("s3:max-keys", "ten"),
        Implicit,
    );
    let numeric_eq = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"NumericEquals": {"app:n": "2.5"}, "NumericGreaterThanEqualsIfExists": {"app:m": 1}, "NumericLessThan": {"app:n": 3}}}]}"#;
    t.check(
        "NumericEquals decimal, IfExists absent",
        IAM,
        numeric_eq,
        s3("x:y", "*").with("app:n", "2.50"),
        Allow,
    );

    // IAM: BinaryEquals (the guide's example value).
    let binary = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}}]}"#;
    t.check(
        "BinaryEquals: same bytes",
        IAM,
        binary,
        s3("x:y", "*").with("key", b"BinaryValueInBase64".to_vec()),
        Allow,
    );
    t.check(
        "BinaryEquals: base64 text",
        IAM,
        binary,
        s3("x:y", "*").with("key", "QmluYXJ5VmFsdWVJbkJhc2U2NA=="),
        Allow,
    );
    t.check(
        "BinaryEquals: other bytes",
        IAM,
        binary,
        s3("x:y", "*").with("key", b"other".to_vec()),
        Implicit,
    );

    // IAM: ARN operators (aws:SourceArn for a topic; each ARN part matched separately).
    let arns = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-west-2:111122223333:*"},
                      "ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:internal-*"},
                      "ArnLikeIfExists": {"aws:PrincipalArn": "arn:aws:iam::111122223333:*"}}}]}"#;
    let topic = |arn: &str| s3("sqs:SendMessage", "*").with("aws:SourceArn", arn);
    t.check(
        "ArnEquals wildcard: topic",
        IAM,
        arns,
        topic("arn:aws:sns:us-west-2:111122223333:orders"),
        Allow,
    );
    t.check(
        "ArnNotLike: internal topic",
        IAM,
        arns,
        topic("arn:aws:sns:us-west-2:111122223333:internal-audit"),
        Implicit,
    );
    t.check(
        "ArnEquals: another account",
        IAM,
        arns,
        topic("arn:aws:sns:us-west-2:444455556666:orders"),
        Implicit,
    );
    t.check(
        "ArnEquals: not an ARN",
        IAM,
        arns,
        topic("orders"),
        Implicit,
    );
    let arn_not_equals = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/ExampleRole"]}}}]}"#;
    t.check(
        "ArnNotEquals: the role's session (PrincipalArn is the role)",
        IAM,
        arn_not_equals,
        request(aws(SESSION), "kms:Decrypt", KEY_ARN),
        Implicit,
    );
    t.check(
        "ArnNotEquals: someone else",
        IAM,
        arn_not_equals,
        request(aws(BOB), "kms:Decrypt", KEY_ARN),
        Deny,
    );

    // Resource matching is case-sensitive and part by part; actions are not case-sensitive.
    let resource = r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "KMS:Decrypt",
        "Resource": "arn:aws:kms:*:111122223333:key/1234abcd-*"}}"#;
    t.check(
        "Resource: wildcard region and key",
        IAM,
        resource,
        s3("kms:decrypt", KEY_ARN),
        Allow,
    );
    t.check(
        "Resource: case-sensitive",
        IAM,
        resource,
        s3(
            "kms:Decrypt",
            &KEY_ARN
                .to_uppercase()
                .replace("ARN:AWS:KMS:US-WEST-2", "arn:aws:kms:us-west-2"),
        ),
        Implicit,
    );
    t.check(
        "Resource: other account",
        IAM,
        resource,
        s3(
            "kms:Decrypt",
            "arn:aws:kms:us-west-2:444455556666:key/1234abcd-0",
        ),
        Implicit,
    );

    // Multiple values OR, multiple keys AND.
    let and_or = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"StringEquals": {"app:a": ["1", "2"], "app:b": "x"}}}]}"#;
    t.check(
        "OR of values, AND of keys",
        IAM,
        and_or,
        s3("x:y", "*").with("app:a", "2").with("app:b", "x"),
        Allow,
    );
    t.check(
        "AND of keys: one missing",
        IAM,
        and_or,
        s3("x:y", "*").with("app:a", "2"),
        Implicit,
    );

    t.finish(40);
}

#[test]
fn principals_and_combination() {
    let mut t = Table::new();
    let res = ParseOptions::RESOURCE;

    // IAM: NotPrincipal with Deny — the account must be listed with the user.
    let not_bob = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:user/Bob", "arn:aws:iam::111122223333:root"]},
         "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]}]}"#;
    t.check(
        "NotPrincipal: Bob excepted",
        res,
        not_bob,
        request(aws(BOB), "s3:GetObject", "arn:aws:s3:::b/k"),
        Allow,
    );
    t.check(
        "NotPrincipal: Alice denied",
        res,
        not_bob,
        request(aws(ALICE), "s3:GetObject", "arn:aws:s3:::b/k"),
        Deny,
    );
    t.check(
        "NotPrincipal: the root excepted",
        res,
        not_bob,
        request(aws(ROOT), "s3:GetObject", "arn:aws:s3:::b/k"),
        Allow,
    );
    t.check(
        "NotPrincipal: anonymous denied",
        res,
        not_bob,
        request(Caller::Anonymous, "s3:GetObject", "arn:aws:s3:::b/k"),
        Deny,
    );
    let bob_only = not_bob.replace(r#", "arn:aws:iam::111122223333:root""#, "");
    t.check(
        "NotPrincipal without the account: Bob denied too",
        res,
        &bob_only,
        request(aws(BOB), "s3:GetObject", "arn:aws:s3:::b/k"),
        Deny,
    );
    let session_listed = r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "NotPrincipal": {"AWS": [
            "arn:aws:sts::111122223333:assumed-role/ExampleRole/session-1",
            "arn:aws:iam::111122223333:role/ExampleRole", "arn:aws:iam::111122223333:root"]},
         "Action": "s3:*", "Resource": "*"}]}"#;
    t.check(
        "NotPrincipal: session, role and account listed",
        res,
        session_listed,
        request(aws(SESSION), "s3:GetObject", "arn:aws:s3:::b/k"),
        Implicit,
    );
    t.check(
        "NotPrincipal: another session of the role",
        res,
        session_listed,
        request(
            aws("arn:aws:sts::111122223333:assumed-role/ExampleRole/session-2"),
            "s3:GetObject",
            "arn:aws:s3:::b/k",
        ),
        Deny,
    );

    // Principal forms: account ID, role for its sessions, role with path, unique id.
    let forms = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["444455556666", "arn:aws:iam::111122223333:role/service/Worker", "AIDAJQABLZS4A3QDU576Q"]},
        "Action": "kms:Decrypt", "Resource": "*"}]}"#;
    t.check(
        "account ID: any principal of it",
        KEY,
        forms,
        request(aws(OTHER_USER), "kms:Decrypt", KEY_ARN),
        Allow,
    );
    let worker =
        trent_policy::AwsIdentity::from_arn("arn:aws:sts::111122223333:assumed-role/Worker/w1")
            .unwrap();
    t.check(
        "role with a path: session without the path",
        KEY,
        forms,
        request(Caller::Aws(worker.clone()), "kms:Decrypt", KEY_ARN),
        Implicit,
    );
    t.check(
        "role with a path: session with the role ARN",
        KEY,
        forms,
        request(
            Caller::Aws(worker.with_role_arn("arn:aws:iam::111122223333:role/service/Worker")),
            "kms:Decrypt",
            KEY_ARN,
        ),
        Allow,
    );
    t.check(
        "unlisted principal",
        KEY,
        forms,
        request(aws(ALICE), "kms:Decrypt", KEY_ARN),
        Implicit,
    );

    t.finish(11);

    // Reporting: which statement, and how the principal matched.
    let policy = Policy::parse(ADMINS_AND_USERS, KEY).unwrap();
    let Decision::Allow(m) = policy.evaluate(&request(aws(OTHER_USER), "kms:Encrypt", KEY_ARN))
    else {
        panic!("not allowed")
    };
    assert_eq!(
        (m.statement, m.sid.as_deref(), m.principal),
        (1, Some("Allow use of the key"), PrincipalMatch::Account)
    );
    let Decision::Allow(m) = policy.evaluate(&request(aws(SESSION), "kms:Encrypt", KEY_ARN)) else {
        panic!("not allowed")
    };
    assert_eq!(m.principal, PrincipalMatch::Caller);
    let default = Policy::parse(DEFAULT_KEY_POLICY, KEY).unwrap();
    let root = default.evaluate(&request(aws(ROOT), "kms:Decrypt", KEY_ARN));
    assert_eq!(
        root.matched().map(|m| m.principal),
        Some(PrincipalMatch::Caller)
    );
    let user = default.evaluate(&request(aws(ALICE), "kms:Decrypt", KEY_ARN));
    assert_eq!(
        user.matched().map(|m| m.principal),
        Some(PrincipalMatch::Account)
    );

    // Explicit deny in any policy wins; the deciding policy is reported.
    let identity = Policy::parse(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}"#, IAM).unwrap();
    let deny_key = Policy::parse(r#"{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:user/Alice"}, "Action": "kms:Decrypt", "Resource": "*"}]}"#, KEY).unwrap();
    let ctx = request(aws(ALICE), "kms:Decrypt", KEY_ARN);
    let decision = evaluate(&[&identity, &deny_key], &ctx);
    let Decision::ExplicitDeny(m) = decision else {
        panic!("{decision:?}")
    };
    assert_eq!(
        (m.policy, m.statement, m.sid.as_deref()),
        (1, 1, Some("NoDecrypt"))
    );
    assert!(
        evaluate(
            &[&identity, &deny_key],
            &request(aws(ALICE), "kms:Encrypt", KEY_ARN)
        )
        .is_allow()
    );
    assert_eq!(evaluate(&[], &ctx), Decision::ImplicitDeny);
    let combined = Decision::combine([
        identity.evaluate(&ctx),
        deny_key.evaluate(&ctx),
        Decision::ImplicitDeny,
    ]);
    assert!(combined.is_explicit_deny());
}
