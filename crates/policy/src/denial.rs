//! What every service says when it refuses a request, and the decision for resources that have
//! no resource-based policy (Parameter Store parameters, KMS operations without a key): the
//! caller's identity-based policies alone decide.

use crate::context::RequestContext;
use crate::eval::{Decision, evaluate};
use crate::policy::Policy;
use crate::requester::Requester;

/// Which policy answered, for AWS's denial message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Because {
    /// A resource-based policy exists and allows nothing here.
    NoResourceAllow,
    /// No identity-based policy allows the action.
    NoIdentityAllow,
    /// A resource-based policy denies explicitly.
    ResourceDeny,
    /// An identity-based policy denies explicitly.
    IdentityDeny,
}

/// AWS's denial message: `User: <caller ARN> is not authorized to perform: <action> on
/// resource: <resource ARN> <reason>`.
pub fn denial_message(
    requester: &Requester,
    action: &str,
    resource: &str,
    because: Because,
) -> String {
    let tail = match because {
        Because::NoResourceAllow => {
            format!("because no resource-based policy allows the {action} action")
        }
        Because::NoIdentityAllow => {
            format!("because no identity-based policy allows the {action} action")
        }
        Because::ResourceDeny => "with an explicit deny in a resource-based policy".into(),
        Because::IdentityDeny => "with an explicit deny in an identity-based policy".into(),
    };
    format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {tail}",
        requester.arn()
    )
}

/// The caller's identity-based policies evaluated against `ctx`.
pub fn identity_decision(requester: &Requester, ctx: &RequestContext) -> Decision {
    let policies: Vec<&Policy> = requester.policies().iter().collect();
    evaluate(&policies, ctx)
}

/// Decides a request on a resource of the caller's own account that has no resource-based
/// policy: an explicit deny in the caller's policies wins; otherwise one of them must allow,
/// except for the account root, which needs none in its own account. `Err` carries the reason
/// for [`denial_message`].
pub fn authorize_identity_only(requester: &Requester, ctx: &RequestContext) -> Result<(), Because> {
    match identity_decision(requester, ctx) {
        Decision::ExplicitDeny(_) => Err(Because::IdentityDeny),
        Decision::Allow(_) => Ok(()),
        Decision::ImplicitDeny if requester.is_root() => Ok(()),
        Decision::ImplicitDeny => Err(Because::NoIdentityAllow),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{AwsIdentity, ParseOptions};

    fn user(policies: &[&str]) -> Requester {
        let identity = AwsIdentity::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
        let policies: Vec<Policy> = policies
            .iter()
            .map(|p| Policy::parse(p, ParseOptions::IDENTITY).unwrap())
            .collect();
        Requester::new(identity, "us-east-1", 0).with_policies(Arc::from(policies))
    }

    const ALLOW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ssm:Get*","Resource":"*"}]}"#;
    const DENY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:*:*:parameter/secret/*"}]}"#;

    #[test]
    fn identity_only_decisions() {
        let arn = "arn:aws:ssm:us-east-1:111122223333:parameter/secret/x";
        let other = "arn:aws:ssm:us-east-1:111122223333:parameter/app/x";
        let nobody = user(&[]);
        let ctx = nobody.context("ssm:GetParameter", arn);
        assert_eq!(
            authorize_identity_only(&nobody, &ctx),
            Err(Because::NoIdentityAllow)
        );
        let both = user(&[ALLOW, DENY]);
        assert_eq!(
            authorize_identity_only(&both, &both.context("ssm:GetParameter", arn)),
            Err(Because::IdentityDeny)
        );
        assert_eq!(
            authorize_identity_only(&both, &both.context("ssm:GetParameter", other)),
            Ok(())
        );
        let root = Requester::root("111122223333", "us-east-1", 0).unwrap();
        assert_eq!(
            authorize_identity_only(&root, &root.context("ssm:GetParameter", arn)),
            Ok(())
        );
        assert_eq!(
            denial_message(&nobody, "ssm:GetParameter", arn, Because::NoIdentityAllow),
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
             ssm:GetParameter on resource: arn:aws:ssm:us-east-1:111122223333:parameter/secret/x \
             because no identity-based policy allows the ssm:GetParameter action"
        );
    }
}
