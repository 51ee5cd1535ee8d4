//! The caller of one request, as every service's authorization sees it: who it is, the
//! identity-based policies in force for it, and the request facts behind the global condition
//! keys. The server builds one per request from authentication; services turn it into a
//! [`RequestContext`] per action and resource.

use std::net::IpAddr;
use std::sync::Arc;

use crate::context::{AwsIdentity, Caller, IdentityKind, RequestContext};
use crate::error::PolicyError;
use crate::policy::Policy;
use crate::value::Timestamp;

/// An authenticated caller and the facts of its request.
#[derive(Debug, Clone)]
pub struct Requester {
    identity: AwsIdentity,
    /// Identity-based policies: a user's inline and attached policies, or a role session's
    /// role policies. Empty for an account root (which needs none in its own account).
    policies: Arc<[Policy]>,
    /// The access key the request was signed with.
    access_key_id: String,
    source_ip: Option<IpAddr>,
    secure_transport: bool,
    region: String,
    /// When the request arrived (`aws:CurrentTime`), milliseconds since the epoch.
    time_ms: i64,
}

impl Requester {
    pub fn new(identity: AwsIdentity, region: impl Into<String>, time_ms: i64) -> Self {
        Requester {
            identity,
            policies: Arc::from(Vec::new()),
            access_key_id: String::new(),
            source_ip: None,
            secure_transport: false,
            region: region.into(),
            time_ms,
        }
    }

    /// The account root of `account_id`, with no identity policies (dev mode, in-process
    /// callers, tests).
    pub fn root(
        account_id: &str,
        region: impl Into<String>,
        time_ms: i64,
    ) -> Result<Self, PolicyError> {
        let identity = AwsIdentity::from_arn(&format!("arn:aws:iam::{account_id}:root"))?;
        Ok(Self::new(identity, region, time_ms))
    }

    pub fn with_policies(mut self, policies: Arc<[Policy]>) -> Self {
        self.policies = policies;
        self
    }

    pub fn with_access_key_id(mut self, access_key_id: impl Into<String>) -> Self {
        self.access_key_id = access_key_id.into();
        self
    }

    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    pub fn with_secure_transport(mut self, secure: bool) -> Self {
        self.secure_transport = secure;
        self
    }

    pub fn identity(&self) -> &AwsIdentity {
        &self.identity
    }

    /// The caller's ARN (the session ARN for a role session).
    pub fn arn(&self) -> &str {
        self.identity.arn()
    }

    pub fn account(&self) -> &str {
        self.identity.account()
    }

    pub fn is_root(&self) -> bool {
        matches!(self.identity.kind(), IdentityKind::Root)
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// A context for `action` on `resource` with the global keys of this request filled in:
    /// the caller's keys (see [`RequestContext::new`]), `aws:SourceIp`, `aws:SecureTransport`,
    /// `aws:CurrentTime`, `aws:EpochTime` and `aws:RequestedRegion`.
    pub fn context(
        &self,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> RequestContext {
        let mut ctx = RequestContext::new(Caller::Aws(self.identity.clone()), action, resource);
        if let Some(ip) = self.source_ip {
            ctx.insert("aws:SourceIp", ip);
        }
        ctx.insert("aws:SecureTransport", self.secure_transport);
        let now = Timestamp::from_unix_nanos(i128::from(self.time_ms) * 1_000_000);
        ctx.insert("aws:CurrentTime", now);
        ctx.insert("aws:EpochTime", self.time_ms.div_euclid(1000));
        ctx.insert("aws:RequestedRegion", self.region.as_str());
        ctx
    }
}
