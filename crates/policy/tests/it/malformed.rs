//! Documents that must be refused, with the message their author will read.

use trent_policy::{ParseOptions, Policy, PolicyError, Problem};

fn refuse(options: ParseOptions, json: &str) -> PolicyError {
    match Policy::parse(json, options) {
        Ok(policy) => panic!("accepted {json}: {policy:?}"),
        Err(e) => e,
    }
}

/// Wraps one statement in a 2012-10-17 document.
fn one(statement: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#)
}

#[test]
fn messages_name_statement_element_and_problem() {
    let key = ParseOptions::KEY_POLICY;
    let iam = ParseOptions::IDENTITY;
    let ok_key = r#""Principal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*""#;
    let cases: Vec<(ParseOptions, String, &str)> = vec![
        (
            key,
            "[]".into(),
            "policy: the document must be a JSON object",
        ),
        (
            key,
            r#"{"Version": "2012-10-17"}"#.into(),
            "Statement: required element is missing",
        ),
        (
            key,
            r#"{"Version": "2012-10-17", "Statement": []}"#.into(),
            "Statement: must not be empty",
        ),
        (
            key,
            r#"{"Version": "2012-10-17", "Statement": "x"}"#.into(),
            "Statement: must be an object or an array of objects",
        ),
        (
            key,
            r#"{"Version": "2013-01-01", "Statement": {}}"#.into(),
            "Version: unsupported policy version \"2013-01-01\"; use \"2012-10-17\" or \"2008-10-17\"",
        ),
        (
            key,
            r#"{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": {}}"#.into(),
            "Version: element appears more than once",
        ),
        (
            key,
            r#"{"Version": "2012-10-17", "Statment": []}"#.into(),
            "Statment: unknown element",
        ),
        (
            key,
            one(&format!(r#"{{"Sid": "A", "Effect": "Permit", {ok_key}}}"#)),
            "Statement[0] (Sid \"A\") Effect: invalid effect \"Permit\"; use \"Allow\" or \"Deny\"",
        ),
        (
            key,
            one(&format!(
                r#"{{"Sid": "A", "Effect": "Allow", "Effect": "Deny", {ok_key}}}"#
            )),
            "Statement[0] (Sid \"A\") Effect: element appears more than once",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}}}, {{"Sid": "B", {ok_key}}}"#
            )),
            "Statement[1] (Sid \"B\") Effect: required element is missing",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#),
            "Statement[0]: a statement needs exactly one of Principal or NotPrincipal",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": "*", "Resource": "*"}"#),
            "Statement[0]: a statement needs exactly one of Action or NotAction",
        ),
        (
            iam,
            one(r#"{"Effect": "Allow", "Action": "kms:*"}"#),
            "Statement[0]: a statement needs exactly one of Resource or NotResource",
        ),
        (
            iam,
            one(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#),
            "Statement[0] Principal: is not allowed in identity policies",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "NotAction": "kms:Decrypt", "Resource": "*"}"#,
            ),
            "Statement[0] NotAction: cannot be used together with Action/NotAction",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "kms:*"}"#),
            "Statement[0] NotPrincipal: cannot be used together with Principal/NotPrincipal",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "kms:*"}"#,
            ),
            "Statement[0] NotPrincipal: NotPrincipal can only be used with \"Effect\": \"Deny\"",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms", "Resource": "*"}"#),
            "Statement[0] Action: invalid action \"kms\": expected \"*\" or \"<service>:<action>\"",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}"#),
            "Statement[0] Action: must not be empty",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "Principal": "*", "Action": ["kms:Encrypt", 7], "Resource": "*"}"#,
            ),
            "Statement[0] Action: must be a string or an array of strings",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "arn:aws:kms:*"}"#,
            ),
            "Statement[0] Resource: invalid resource \"arn:aws:kms:*\": expected \"*\" or an ARN (arn:partition:service:region:account:resource)",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "Principal": "arn:aws:iam::111122223333:root", "Action": "kms:*"}"#,
            ),
            "Statement[0] Principal: must be \"*\" or an object such as {\"AWS\": …} or {\"Service\": …}",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": {}, "Action": "kms:*"}"#),
            "Statement[0] Principal: must not be empty",
        ),
        (
            key,
            one(
                r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}, "Action": "kms:*"}"#,
            ),
            "Statement[0] Principal.AWS: invalid principal \"arn:aws:iam::111122223333:user/*\": wildcards are only allowed as \"*\" on its own",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*"}"#),
            "Statement[0] Principal.AWS: invalid principal \"bob\": expected an account ID, an IAM or STS principal ARN, or \"*\"",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": {"AWS": "11112222333"}, "Action": "kms:*"}"#),
            "Statement[0] Principal.AWS: invalid principal \"11112222333\": expected an account ID, an IAM or STS principal ARN, or \"*\"",
        ),
        (
            key,
            one(r#"{"Effect": "Allow", "Principal": {"Aws": "111122223333"}, "Action": "kms:*"}"#),
            "Statement[0] Principal.Aws: unknown principal type \"Aws\"; use \"AWS\", \"Service\", \"Federated\" or \"CanonicalUser\"",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"StringEqualz": {{"a": "b"}}}}}}"#
            )),
            "Statement[0] Condition.StringEqualz: unknown condition operator \"StringEqualz\"",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"NullIfExists": {{"a": "true"}}}}}}"#
            )),
            "Statement[0] Condition.NullIfExists: the Null operator cannot take IfExists or a ForAllValues/ForAnyValue qualifier",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"NumericLessThan": {{"kms:RotationPeriodInDays": "ninety"}}}}}}"#
            )),
            "Statement[0] Condition.NumericLessThan.kms:RotationPeriodInDays: invalid value \"ninety\" for NumericLessThan: expected a number",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"DateLessThan": {{"aws:CurrentTime": "2020-02-30"}}}}}}"#
            )),
            "Statement[0] Condition.DateLessThan.aws:CurrentTime: invalid value \"2020-02-30\" for DateLessThan: expected an ISO 8601 date or epoch seconds",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"IpAddress": {{"aws:SourceIp": "10.0.0.0/33"}}}}}}"#
            )),
            "Statement[0] Condition.IpAddress.aws:SourceIp: invalid value \"10.0.0.0/33\" for IpAddress: expected an IPv4 or IPv6 address or CIDR block",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"Bool": {{"aws:SecureTransport": "yes"}}}}}}"#
            )),
            "Statement[0] Condition.Bool.aws:SecureTransport: invalid value \"yes\" for Bool: expected \"true\" or \"false\"",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"BinaryEquals": {{"k": "not base64!"}}}}}}"#
            )),
            "Statement[0] Condition.BinaryEquals.k: invalid value \"not base64!\" for BinaryEquals: expected base64",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"StringEquals": {{"k": []}}}}}}"#
            )),
            "Statement[0] Condition.StringEquals.k: must not be empty",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"StringEquals": {{"k": {{"x": 1}}}}}}}}"#
            )),
            "Statement[0] Condition.StringEquals.k: must be a string, number or boolean, or an array of them",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Condition": {{"StringEquals": {{"k": "a", "k": "b"}}}}}}"#
            )),
            "Statement[0] Condition.StringEquals.k: element appears more than once",
        ),
        (
            key,
            one(&format!(
                r#"{{"Sid": "S", "Effect": "Allow", {ok_key}}}, {{"Sid": "S", "Effect": "Deny", {ok_key}}}"#
            )),
            "Statement[1] (Sid \"S\") Sid: duplicate Sid \"S\"; statement IDs must be unique within a policy",
        ),
        (
            key,
            one(&format!(
                r#"{{"Effect": "Allow", {ok_key}, "Conditions": {{}}}}"#
            )),
            "Statement[0] Conditions: unknown element",
        ),
        (
            key,
            one(r#""not an object""#),
            "Statement[0]: must be an object",
        ),
    ];
    let mut failures = Vec::new();
    for (options, json, want) in &cases {
        let got = refuse(*options, json).to_string();
        if got != *want {
            failures.push(format!("{json}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn not_json() {
    let e = refuse(ParseOptions::KEY_POLICY, r#"{"Version": "2012-10-17", "#);
    assert!(matches!(e, PolicyError::Json(_)));
    assert!(
        e.to_string().starts_with("the policy is not valid JSON: "),
        "{e}"
    );
    assert!(e.location().is_none());
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    assert!(matches!(
        refuse(ParseOptions::KEY_POLICY, &deep),
        PolicyError::Json(_)
    ));
}

#[test]
fn structured_access() {
    let e = refuse(
        ParseOptions::KEY_POLICY,
        &one(
            r#"{"Sid": "X", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"Foo": {}}}"#,
        ),
    );
    let at = e.location().unwrap();
    assert_eq!(
        (at.statement, at.sid.as_deref(), at.element.as_str()),
        (Some(0), Some("X"), "Condition.Foo")
    );
    assert_eq!(e.problem(), Some(&Problem::UnknownOperator("Foo".into())));
}

#[test]
fn accepted_shapes() {
    // The shapes AWS accepts that a too-strict parser might refuse.
    let ok = [
        // No Version (2008-10-17), a single statement object, no Resource in a key policy.
        r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*"}}"#,
        // Numbers and booleans as condition values; operator names in any case.
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
            "Condition": {"numericLessThan": {"k": 5}, "Bool": {"b": true}, "forallvalues:stringlike": {"t": ["a*"]}}}]}"#,
        // Every principal type.
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ["*"], "Service": "kms.amazonaws.com",
            "Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
            "Action": "*"}]}"#,
        // A Sid with spaces, as the KMS default policies use.
        r#"{"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "kms:*"}]}"#,
    ];
    for json in ok {
        if let Err(e) = Policy::parse(json, ParseOptions::KEY_POLICY) {
            panic!("refused {json}: {e}");
        }
    }
}
