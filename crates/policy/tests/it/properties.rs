//! Evaluator invariants over random policies and requests drawn from a small vocabulary (so
//! that statements often apply and interact):
//!
//! - adding a `Deny` statement anywhere never turns a non-allow into an allow, and never turns
//!   an explicit deny into anything else;
//! - the order of statements, and of policies, never changes the decision.

use proptest::prelude::*;
use serde_json::{Value, json};
use trent_policy::{Caller, Decision, ParseOptions, Policy, RequestContext, evaluate};

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allow,
    Deny,
    Implicit,
}

fn kind(d: &Decision) -> Kind {
    match d {
        Decision::Allow(_) => Kind::Allow,
        Decision::ExplicitDeny(_) => Kind::Deny,
        Decision::ImplicitDeny => Kind::Implicit,
    }
}

fn principal() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        Just(("Principal", json!("*"))),
        Just(("Principal", json!({"AWS": "111122223333"}))),
        Just(("Principal", json!({"AWS": ALICE}))),
        Just((
            "Principal",
            json!({"AWS": ["arn:aws:iam::111122223333:role/ExampleRole", "444455556666"]})
        )),
        Just(("Principal", json!({"Service": "cloudtrail.amazonaws.com"}))),
        Just(("NotPrincipal", json!({"AWS": [BOB, "111122223333"]}))),
    ]
}

fn action() -> impl Strategy<Value = (&'static str, Value)> {
    let name = prop_oneof![Just("Action"), Just("NotAction")];
    let value = prop::sample::select(vec![
        json!("*"),
        json!("kms:*"),
        json!("kms:Decrypt"),
        json!(["kms:Encrypt", "kms:GenerateDataKey*"]),
        json!("kms:Re?ncrypt*"),
        json!("s3:Get*"),
    ]);
    (name, value)
}

fn resource() -> impl Strategy<Value = (&'static str, Value)> {
    let name = prop_oneof![Just("Resource"), Just("NotResource")];
    let value = prop::sample::select(vec![
        json!("*"),
        json!("arn:aws:kms:*:111122223333:key/*"),
        json!(KEY_ARN),
        json!("arn:aws:s3:::bucket/${aws:username}/*"),
    ]);
    (name, value)
}

fn condition() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop::sample::select(vec![
        json!({"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}),
        json!({"StringNotEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}}),
        json!({"BoolIfExists": {"aws:SecureTransport": "true"}}),
        json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}),
        json!({"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}}),
        json!({"NumericLessThan": {"app:n": 5}}),
        json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
        json!({"StringEquals": {"aws:PrincipalTag/team": "${aws:ResourceTag/team}"}}),
    ]))
}

fn statement(effect: Option<&'static str>) -> impl Strategy<Value = Value> {
    let effect = match effect {
        Some(e) => Just(e).boxed(),
        None => prop_oneof![Just("Allow"), Just("Deny")].boxed(),
    };
    (effect, principal(), action(), resource(), condition()).prop_map(
        |(effect, (p_name, p), (a_name, a), (r_name, r), c)| {
            // NotPrincipal is only valid with Deny.
            let (p_name, p) = if effect == "Allow" && p_name == "NotPrincipal" {
                ("Principal", json!("*"))
            } else {
                (p_name, p)
            };
            let mut s = json!({"Effect": effect, p_name: p, a_name: a, r_name: r});
            if let (Some(c), Some(obj)) = (c, s.as_object_mut()) {
                obj.insert("Condition".into(), c);
            }
            s
        },
    )
}

fn statements() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(statement(None), 1..6)
}

fn parse(statements: &[Value]) -> Policy {
    let doc = json!({"Version": "2012-10-17", "Statement": statements});
    Policy::parse(&doc.to_string(), ParseOptions::KEY_POLICY).unwrap()
}

fn context() -> impl Strategy<Value = RequestContext> {
    let caller = prop::sample::select(vec![
        Some(ROOT),
        Some(ALICE),
        Some(BOB),
        Some(SESSION),
        Some(OTHER_USER),
        None,
    ]);
    let action = prop::sample::select(vec![
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:GenerateDataKeyPair",
        "s3:GetObject",
    ]);
    let resource = prop::sample::select(vec![
        KEY_ARN,
        "arn:aws:kms:us-west-2:444455556666:key/x",
        "arn:aws:s3:::bucket/Alice/f",
        "*",
    ]);
    let flags = prop::collection::vec(any::<bool>(), 8);
    (caller, action, resource, flags).prop_map(|(caller, action, resource, f)| {
        let caller = match caller {
            Some(arn) => aws(arn),
            None => Caller::Service("cloudtrail.amazonaws.com".into()),
        };
        let mut ctx = RequestContext::new(caller, action, resource);
        let flag = |i: usize| f.get(i).copied().unwrap_or(false);
        if flag(0) {
            ctx.insert("kms:ViaService", "ec2.us-west-2.amazonaws.com");
        }
        if flag(1) {
            ctx.insert("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
        }
        if flag(2) {
            ctx.insert("aws:SecureTransport", flag(3));
        }
        if flag(4) {
            ctx.insert_multi(
                "aws:TagKeys",
                if flag(5) { vec!["a"] } else { vec!["a", "c"] },
            );
        }
        if flag(6) {
            ctx.insert("app:n", 3);
            ctx.insert("aws:SourceIp", "10.1.1.1");
        }
        if flag(7) {
            ctx.insert("aws:ResourceTag/team", "blue");
            ctx.insert("aws:PrincipalTag/team", "blue");
        }
        ctx
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn adding_a_deny_never_allows_more(
        base in statements(),
        deny in statement(Some("Deny")),
        at in any::<prop::sample::Index>(),
        ctx in context(),
    ) {
        let before = kind(&parse(&base).evaluate(&ctx));
        let mut with_deny = base.clone();
        with_deny.insert(at.index(base.len() + 1), deny);
        let after = kind(&parse(&with_deny).evaluate(&ctx));
        if after == Kind::Allow {
            prop_assert_eq!(before, Kind::Allow);
        }
        if before == Kind::Deny {
            prop_assert_eq!(after, Kind::Deny);
        }
    }

    #[test]
    fn statement_order_never_matters(
        (original, shuffled) in statements().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
        ctx in context(),
    ) {
        prop_assert_eq!(kind(&parse(&original).evaluate(&ctx)), kind(&parse(&shuffled).evaluate(&ctx)));
    }

    #[test]
    fn policy_order_never_matters(a in statements(), b in statements(), ctx in context()) {
        let (a, b) = (parse(&a), parse(&b));
        let ab = evaluate(&[&a, &b], &ctx);
        let ba = evaluate(&[&b, &a], &ctx);
        prop_assert_eq!(kind(&ab), kind(&ba));
        // Evaluating together is combining the separate decisions.
        let combined = Decision::combine([a.evaluate(&ctx), b.evaluate(&ctx)]);
        prop_assert_eq!(kind(&ab), kind(&combined));
    }
}
