//! Authorization of Parameter Store's own actions, as AWS documents it:
//!
//! - The action is `ssm:<Operation>`; the resource is the parameter's ARN
//!   (`arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>`), for
//!   GetParameters and DeleteParameters each name's, for GetParametersByPath the *path's* ARN
//!   (not the parameters it returns), and for DescribeParameters `arn:aws:ssm:<region>:<account>:*`.
//! - Parameters have no resource-based policies, so an Allow must come from the caller's
//!   identity-based policies; an explicit Deny there always wins. The account root needs none
//!   in its own account (and `--dev` callers are the root).
//! - Condition keys besides the global ones: `aws:ResourceTag/<key>` and `ssm:resourceTag/<key>`
//!   (the parameter's tags, read from the store only when a policy in play asks about them),
//!   `aws:RequestTag/<key>` and `aws:TagKeys` (PutParameter with Tags, the tagging operations),
//!   `ssm:Overwrite` (PutParameter) and `ssm:Recursive` (GetParametersByPath).
//!
//! Every operation authorizes right after checking the request's shape and before it reads a
//! value or calls KMS: a denied caller learns nothing, not even whether the parameter exists.

use trent_policy::RequestContext;
use trent_store::Scope;

use crate::{Caller, Ssm, SsmError};

const RESOURCE_TAG: &str = "aws:ResourceTag/";
const SSM_RESOURCE_TAG: &str = "ssm:resourceTag/";

/// One request to authorize: the operation, its resource and the condition keys only the
/// operation knows.
pub(crate) struct Access<'a> {
    action: &'static str,
    resource: String,
    /// The parameter whose tags are `aws:ResourceTag/*`, if the resource is one.
    parameter: Option<&'a str>,
    keys: Vec<(String, trent_policy::ContextValue)>,
    multi: Vec<(String, Vec<String>)>,
}

impl<'a> Access<'a> {
    /// `ssm:<action>` on the parameter `name` (a selector suffix already removed).
    pub fn parameter(action: &'static str, scope: &Scope, name: &'a str) -> Self {
        Access {
            action,
            resource: crate::model::parameter_arn(scope, name),
            parameter: Some(name),
            keys: Vec::new(),
            multi: Vec::new(),
        }
    }

    /// `ssm:<action>` on a resource that is not one parameter (a path, or the account's
    /// parameters as a whole).
    pub fn resource(action: &'static str, resource: String) -> Self {
        Access {
            action,
            resource,
            parameter: None,
            keys: Vec::new(),
            multi: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<trent_policy::ContextValue>) -> Self {
        self.keys.push((key.to_string(), value.into()));
        self
    }

    /// Tags a request sets: `aws:RequestTag/<key>` for each and `aws:TagKeys`.
    pub fn request_tags(mut self, tags: &[(String, String)]) -> Self {
        for (k, v) in tags {
            self.keys
                .push((format!("aws:RequestTag/{k}"), v.as_str().into()));
        }
        self.tag_keys(tags.iter().map(|(k, _)| k.clone()).collect())
    }

    /// `aws:TagKeys`: the tag keys a request names.
    pub fn tag_keys(mut self, keys: Vec<String>) -> Self {
        self.multi.push(("aws:TagKeys".into(), keys));
        self
    }
}

/// The resource GetParametersByPath is authorized on: the path's own ARN.
pub(crate) fn path_arn(scope: &Scope, path: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{}:parameter/{}",
        scope.region,
        scope.account_id,
        path.strip_prefix('/').unwrap_or(path)
    )
}

/// The resource of DescribeParameters: every parameter of the account and region.
pub(crate) fn account_arn(scope: &Scope) -> String {
    format!("arn:aws:ssm:{}:{}:*", scope.region, scope.account_id)
}

impl Ssm {
    /// Decides `access` for the caller: `AccessDeniedException` with AWS's message, or `Ok`.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        access: Access<'_>,
    ) -> Result<(), SsmError> {
        let requester = &caller.requester;
        let policies = requester.policies();
        // Without identity policies nothing can allow or deny: the root is allowed, anyone
        // else is not. This is the whole cost for the root and for `--dev` callers.
        if policies.is_empty() {
            return if requester.is_root() {
                Ok(())
            } else {
                Err(self.denied(caller, &access, trent_policy::Because::NoIdentityAllow))
            };
        }
        let action = format!("ssm:{}", access.action);
        let mut ctx = requester.context(action.as_str(), access.resource.as_str());
        if let Some(name) = access.parameter
            && policies.iter().any(|p| {
                p.uses_condition_key_prefix(RESOURCE_TAG)
                    || p.uses_condition_key_prefix(SSM_RESOURCE_TAG)
            })
        {
            self.resource_tags(caller, name, &mut ctx).await?;
        }
        for (k, v) in &access.keys {
            ctx.insert(k, v.clone());
        }
        for (k, values) in &access.multi {
            ctx.insert_multi(k, values.iter().map(String::as_str));
        }
        trent_policy::authorize_identity_only(requester, &ctx)
            .map_err(|because| self.denied(caller, &access, because))
    }

    fn denied(
        &self,
        caller: &Caller,
        access: &Access<'_>,
        because: trent_policy::Because,
    ) -> SsmError {
        SsmError::AccessDenied(trent_policy::denial_message(
            &caller.requester,
            &format!("ssm:{}", access.action),
            &access.resource,
            because,
        ))
    }

    /// The parameter's tags as `aws:ResourceTag/<key>` and `ssm:resourceTag/<key>`; none when
    /// the parameter does not exist.
    async fn resource_tags(
        &self,
        caller: &Caller,
        name: &str,
        ctx: &mut RequestContext,
    ) -> Result<(), SsmError> {
        if !crate::model::is_lookup_name(name) {
            return Ok(());
        }
        if let Some(head) = self.store().get_parameter(&caller.scope, name).await? {
            for (k, v) in &head.tags {
                ctx.insert(&format!("{RESOURCE_TAG}{k}"), v.as_str());
                ctx.insert(&format!("{SSM_RESOURCE_TAG}{k}"), v.as_str());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources() {
        let scope = Scope::new("111122223333", "eu-west-1");
        assert_eq!(
            path_arn(&scope, "/app/prod"),
            "arn:aws:ssm:eu-west-1:111122223333:parameter/app/prod"
        );
        assert_eq!(
            path_arn(&scope, "/"),
            "arn:aws:ssm:eu-west-1:111122223333:parameter/"
        );
        assert_eq!(account_arn(&scope), "arn:aws:ssm:eu-west-1:111122223333:*");
        assert_eq!(
            Access::parameter("GetParameter", &scope, "/a/b").resource,
            "arn:aws:ssm:eu-west-1:111122223333:parameter/a/b"
        );
        assert_eq!(
            Access::parameter("GetParameter", &scope, "plain").resource,
            "arn:aws:ssm:eu-west-1:111122223333:parameter/plain"
        );
    }
}
