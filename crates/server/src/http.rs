//! One HTTP request: route, read the body within limits, pick the service from `X-Amz-Target`
//! (JSON 1.1) or, for form-encoded POSTs without one, from the SigV4 credential scope (the Query
//! protocol of IAM and STS), authenticate, run the operation, answer in the protocol's shape.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use trent_wire::ApiError;

use trent_iam::QueryService;

use trent_audit::{Body, Call, UserIdentity};

use crate::State;
use crate::auth::{RequestView, error_chain};
use crate::quota::Api;

type Reply = Response<Full<Bytes>>;

const JSON_1_1: &str = "application/x-amz-json-1.1";

/// A JSON-protocol service, chosen by the `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Kms,
    Ssm,
    Secrets,
    CloudTrail,
    /// Trent's own operator actions (`TrentOperator.Seal`), signed for the service `trent`.
    Operator,
}

/// Services by target prefix, with their SigV4 signing names. Prefixes of services that are not
/// served yet are listed so they get a precise error instead of a generic one.
const TARGETS: &[(&str, Option<Service>, &str)] = &[
    ("TrentService", Some(Service::Kms), "kms"),
    ("AmazonSSM", Some(Service::Ssm), "ssm"),
    ("secretsmanager", Some(Service::Secrets), "secretsmanager"),
    ("CertificateManager", None, "acm"),
    ("ACMPrivateCA", None, "acm-pca"),
    (
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
        Some(Service::CloudTrail),
        "cloudtrail",
    ),
    (
        "CloudTrail_20131101",
        Some(Service::CloudTrail),
        "cloudtrail",
    ),
    ("TrentOperator", Some(Service::Operator), "trent"),
];

fn reply(status: StatusCode, request_id: &str, content_type: &'static str, body: Vec<u8>) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn error_reply(e: &ApiError, request_id: &str) -> Reply {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = reply(status, request_id, JSON_1_1, e.to_json());
    // Some clients read the code from this header rather than the body.
    if let Ok(v) = HeaderValue::from_str(&e.code) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

/// Marks a request that arrived on the TLS listener (`aws:SecureTransport`).
#[derive(Clone, Copy)]
struct OverTls;

fn arrived_over_tls(extensions: &http::Extensions) -> bool {
    extensions.get::<OverTls>().is_some()
}

pub(crate) async fn handle(
    state: &State,
    mut req: hyper::Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
) -> Reply {
    if secure {
        req.extensions_mut().insert(OverTls);
    }
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    if req.uri().path() == "/health" && matches!(*req.method(), Method::GET | Method::HEAD) {
        // Not an API call: load-balancer probes stay out of the audit trail.
        let mut health = serde_json::json!({"status": "ok", "seal": state.seal_name});
        if let (Some(tls), Some(map)) = (&state.tls, health.as_object_mut()) {
            map.insert("tls".into(), tls.expiry_json());
        }
        return reply(
            StatusCode::OK,
            &request_id,
            "application/json",
            health.to_string().into_bytes(),
        );
    }
    // Past capacity, a request that cannot start soon is answered at once, before anything
    // costly: no body read, no signature check, no store, no audit event (see `admission`).
    let Some(admitted) = state.admission.admit().await else {
        return throttled(&req, &request_id);
    };
    let method = req.method().clone();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut call = Call::new(request_id.clone(), peer.ip(), state.default_account.clone());
    call.user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resp = match tokio::time::timeout(
        state.limits.request_timeout,
        route(state, req, peer, &request_id, target.as_deref(), &mut call),
    )
    .await
    {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            call.error = Some((e.code.to_string(), e.message.clone()));
            error_reply(&e, &request_id)
        }
        Err(_) => {
            let e = ApiError::new(
                "RequestTimeout",
                408,
                "The request did not complete in time.",
            );
            call.error = Some((e.code.to_string(), e.message.clone()));
            error_reply(&e, &request_id)
        }
    };
    // The place bounds the work in progress; waiting for the audit commit is not work (the
    // writer batches every waiting event into one commit, so holding places through it would
    // cap a group commit at the number of places).
    drop(admitted);
    let resp = audit(state, call, resp, &request_id).await;
    tracing::debug!(
        request_id,
        %peer,
        %method,
        target = target.as_deref().unwrap_or("-"),
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

/// The answer to a shed request, in the shape of the service it was for, told from the
/// `X-Amz-Target` prefix (JSON services) or, for the Query protocol, from the credential scope
/// of the (unverified) `Authorization` header. What AWS answers when its rate limits are hit,
/// so the SDKs retry it with backoff.
fn throttled(req: &hyper::Request<Incoming>, request_id: &str) -> Reply {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if target.is_none() && is_query_request(req) {
        let service = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| trent_sigv4::parse_authorization(h).ok())
            .and_then(|a| QueryService::from_signing_name(a.service))
            .unwrap_or(QueryService::Iam);
        return xml_error(&query_api(service).throttling_error(), service, request_id);
    }
    // An unknown or missing target is answered in the common JSON shape ("Rate exceeded").
    let api = target
        .and_then(|t| {
            let prefix = t.rsplit_once('.').map_or(t, |(p, _)| p);
            TARGETS.iter().find(|(p, _, _)| *p == prefix)
        })
        .and_then(|(_, service, _)| *service)
        .and_then(quota_api)
        .unwrap_or(Api::Ssm);
    error_reply(&api.throttling_error(), request_id)
}

/// Records the call and answers only once its event is durable. A success whose event cannot
/// be written is not a success: the client gets an internal error instead.
async fn audit(state: &State, call: Call, resp: Reply, request_id: &str) -> Reply {
    let succeeded = call.error.is_none();
    let event = call.into_event(state.clock.now_ms());
    match state.audit.record(event).await {
        Ok(()) => resp,
        Err(e) => {
            tracing::error!(request_id, error = %error_chain(&e), "audit event not recorded");
            if succeeded {
                error_reply(&internal_error(), request_id)
            } else {
                resp
            }
        }
    }
}

/// The members of the request body the record keeps, when the operation records any. Only the
/// allow-listed members are kept, so no plaintext lingers in the call while the operation runs.
fn json_body(call: &Call, body: &[u8]) -> Body {
    let (Some(service), Some(operation)) = (&call.service, &call.operation) else {
        return Body::None;
    };
    let members = trent_audit::redact::request_members(service, operation);
    if members.is_empty() {
        return Body::None;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.retain(|k, _| members.contains(&k.as_str()));
            Body::Json(serde_json::Value::Object(m))
        }
        _ => Body::None,
    }
}

/// What the record keeps of a successful JSON response.
fn note_response(call: &mut Call, out: &[u8]) {
    if call.wants_response()
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(out)
    {
        if let Some(arn) = v
            .get("KeyMetadata")
            .and_then(|m| m.get("Arn"))
            .and_then(|a| a.as_str())
        {
            call.add_resource(arn);
        }
        call.response = Some(v);
    }
}

/// What authentication will be told, noted before it runs so a failed authentication is still
/// recorded with the access key and region the request claimed.
fn note_claimed_identity(call: &mut Call, headers: &[(&str, &str)]) {
    let auth = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| trent_sigv4::parse_authorization(v).ok());
    if let Some(a) = auth {
        let well_formed = a.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
            && (3..=128).contains(&a.access_key_id.len());
        call.identity = UserIdentity::Unknown {
            access_key_id: well_formed.then(|| a.access_key_id.to_owned()),
        };
        call.region = Some(a.region.to_owned());
    }
}

async fn route(
    state: &State,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    request_id: &str,
    target: Option<&str>,
    call: &mut Call,
) -> Result<Reply, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::new(
            "UnknownOperationException",
            404,
            "Only POST requests with an X-Amz-Target header are served here.",
        ));
    }
    let Some(target) = target else {
        if is_query_request(&req) {
            return Ok(route_query(state, req, peer, request_id, call).await);
        }
        return Err(ApiError::bad_request(
            "UnknownOperationException",
            "The request has no X-Amz-Target header.",
        ));
    };
    let (prefix, operation) = target.rsplit_once('.').unwrap_or((target, ""));
    call.operation = Some(operation.to_owned());
    let Some(&(_, service, signing_name)) = TARGETS.iter().find(|(p, _, _)| *p == prefix) else {
        return Err(ApiError::bad_request(
            "UnknownOperationException",
            format!(
                "Unknown target prefix '{}'.",
                prefix.chars().take(64).collect::<String>()
            ),
        ));
    };
    call.service = Some(signing_name.to_owned());

    let (parts, body) = req.into_parts();
    let body = read_body(state, body).await?;
    let headers = header_list(&parts);
    note_claimed_identity(call, &headers);
    call.request = json_body(call, &body);
    let view = RequestView {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let principal = state.auth.authenticate(&view, signing_name).await?;
    let requester = principal
        .requester(state.clock.now_ms())
        .map_err(|_| internal_error())?
        .with_source_ip(peer.ip())
        .with_secure_transport(arrived_over_tls(&parts.extensions));
    call.identity = UserIdentity::Known {
        identity: requester.identity().clone(),
        access_key_id: principal.access_key_id.clone(),
    };

    let Some(service) = service else {
        return Err(ApiError::bad_request(
            "UnknownOperationException",
            format!("The {prefix} service is not available on this server yet."),
        ));
    };
    // Over quota: answered now, before the operation runs. Counted against the caller's own
    // account and the Region it signed for, whoever owns the resource it names.
    if let Some(api) = quota_api(service)
        && state
            .quotas
            .check(
                &principal.account_id,
                &principal.region,
                api,
                operation,
                &body,
            )
            .is_err()
    {
        return Err(api.throttling_error());
    }
    let caller = trent_kms::Caller {
        scope: trent_store::Scope::new(principal.account_id, principal.region),
        requester: std::sync::Arc::new(requester),
        request_id: request_id.to_string(),
        touched: trent_kms::Touched::default(),
    };
    // A JSON service: refuse an operation it does not have, run it as the caller, note the key
    // ARNs it resolved for the audit record, log internal failures under the request id.
    macro_rules! dispatch {
        ($service:expr, $ty:ty) => {{
            if !<$ty>::has_operation(operation) {
                return Err(unknown_operation(operation));
            }
            let result = $service.call(&caller, operation, &body).await;
            for arn in caller.touched.arns() {
                call.add_resource(&arn);
            }
            result.map_err(|e| {
                if e.is_internal() {
                    tracing::error!(request_id, operation, error = %error_chain(&e), "operation failed");
                }
                e.to_api_error()
            })
        }};
    }
    let result = match service {
        Service::Kms => dispatch!(state.kms, trent_kms::Kms),
        Service::Ssm => dispatch!(state.ssm, trent_ssm::Ssm),
        Service::Secrets => dispatch!(state.secrets, trent_secrets::Secrets),
        Service::Operator => {
            if operation != "Seal" {
                return Err(unknown_operation(operation));
            }
            authorize_operator(state, &caller, "trent:Seal")?;
            Ok(serde_json::json!({"Sealed": true}).to_string().into_bytes())
        }
        Service::CloudTrail => {
            if operation != "LookupEvents" {
                return Err(unknown_operation(operation));
            }
            trent_audit::lookup::authorize(&caller.requester)?;
            trent_audit::lookup::lookup_events(
                state.store.as_ref(),
                &caller.requester,
                &body,
                state.clock.now_ms(),
            )
            .await
        }
    };
    let out = result?;
    note_response(call, &out);
    if service == Service::Operator {
        // Answered first: the seal takes effect once this response is on its way.
        state.request_seal();
        tracing::warn!(
            request_id,
            caller = %call_arn(&caller),
            "SEALING at an operator's request: the root key will be dropped from memory"
        );
    }
    Ok(reply(StatusCode::OK, request_id, JSON_1_1, out))
}

async fn read_body(state: &State, body: Incoming) -> Result<Bytes, ApiError> {
    // A body trickled in slower than max_body_bytes per body_read_timeout is cut off: the
    // request holds one of the max_in_flight places while it is read.
    let read = tokio::time::timeout(
        state.limits.body_read_timeout,
        Limited::new(body, state.limits.max_body_bytes).collect(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            "RequestTimeout",
            408,
            "The request body did not arrive in time.",
        )
    })?;
    match read {
        Ok(b) => Ok(b.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                "RequestEntityTooLargeException",
                413,
                format!(
                    "The request body exceeds the limit of {} bytes.",
                    state.limits.max_body_bytes
                ),
            ))
        }
        Err(_) => Err(ApiError::bad_request(
            "SerializationException",
            "The request body could not be read.",
        )),
    }
}

/// The headers as SigV4 sees them. Headers that are not UTF-8 cannot be part of a canonical
/// request; leaving them out makes a signature that covers one fail as "signed header missing"
/// rather than failing every request that carries, say, an unusual User-Agent.
fn header_list(parts: &http::request::Parts) -> Vec<(&str, &str)> {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        if let Ok(value) = std::str::from_utf8(value.as_bytes()) {
            headers.push((name.as_str(), value));
        }
    }
    // HTTP/2 carries the host in the :authority pseudo-header, which SigV4 signs as `host`.
    if !parts.headers.contains_key(header::HOST)
        && let Some(a) = parts.uri.authority()
    {
        headers.push(("host", a.as_str()));
    }
    headers
}

/// A Query-protocol request: a form-encoded body, or `Action` in the query string.
fn is_query_request(req: &hyper::Request<Incoming>) -> bool {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let action_in_query = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("Action=")));
    form || action_in_query
}

/// Auth failures in the codes the Query services use for them.
fn query_auth_error(e: ApiError) -> ApiError {
    match e.code.as_ref() {
        "UnrecognizedClientException" => ApiError::new("InvalidClientTokenId", 403, e.message),
        "ExpiredTokenException" => ApiError::new("ExpiredToken", 403, e.message),
        "MissingAuthenticationTokenException" => {
            ApiError::new("MissingAuthenticationToken", 403, e.message)
        }
        "IncompleteSignatureException" => ApiError::new("IncompleteSignature", 400, e.message),
        "InvalidSignatureException" => ApiError::new("SignatureDoesNotMatch", 403, e.message),
        _ => e,
    }
}

/// IAM and STS: every answer, errors included, is XML.
async fn route_query(
    state: &State,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    request_id: &str,
    call: &mut Call,
) -> Reply {
    let service = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| trent_sigv4::parse_authorization(h).ok())
        .map(|a| a.service.to_owned());
    // Without a (parsable) scope the request is answered as IAM; authentication says why.
    let (service, signing_name) = match service.as_deref() {
        None => (QueryService::Iam, "iam".to_owned()),
        Some(name) => match QueryService::from_signing_name(name) {
            Some(s) => (s, name.to_owned()),
            None => {
                let e = ApiError::bad_request(
                    "InvalidAction",
                    format!(
                        "The {} service does not accept Query-protocol requests.",
                        name.chars().take(64).collect::<String>()
                    ),
                );
                call.error = Some((e.code.to_string(), e.message.clone()));
                return xml_error(&e, QueryService::Iam, request_id);
            }
        },
    };
    call.service = Some(signing_name.clone());
    match query(state, req, peer, request_id, service, &signing_name, call).await {
        Ok(reply) => reply,
        Err(e) => {
            call.error = Some((e.code.to_string(), e.message.clone()));
            xml_error(&e, service, request_id)
        }
    }
}

async fn query(
    state: &State,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    request_id: &str,
    service: QueryService,
    signing_name: &str,
    call: &mut Call,
) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let body = read_body(state, body).await?;
    let headers = header_list(&parts);
    note_claimed_identity(call, &headers);
    let query_string = parts.uri.query().unwrap_or("");
    // The action and the members the record keeps, read before authentication so that a
    // failed authentication is recorded with them too.
    if let Ok(params) = trent_wire::query::Params::parse(query_string, &body)
        && let Some(action) = params.action()
    {
        call.operation = Some(action.to_owned());
        let kept = trent_audit::redact::request_members(signing_name, action)
            .iter()
            .filter_map(|m| params.get(m).map(|v| ((*m).to_owned(), v.to_owned())))
            .collect();
        call.request = Body::Query(kept);
    }
    let view = RequestView {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: query_string,
        headers: &headers,
        body: &body,
    };
    let principal = state
        .auth
        .authenticate(&view, signing_name)
        .await
        .map_err(query_auth_error)?;
    let params = trent_wire::query::Params::parse(query_string, &body)?;
    let Some(action) = params.action() else {
        return Err(ApiError::bad_request("MissingAction", "Missing Action"));
    };
    if !trent_iam::Iam::has_action(service, action) {
        return Err(ApiError::bad_request(
            "InvalidAction",
            format!(
                "Could not find operation {} for version {}",
                action.chars().take(64).collect::<String>(),
                service.version()
            ),
        ));
    }
    let requester = principal
        .requester(state.clock.now_ms())
        .map_err(|_| internal_error())?
        .with_source_ip(peer.ip())
        .with_secure_transport(arrived_over_tls(&parts.extensions));
    call.identity = UserIdentity::Known {
        identity: requester.identity().clone(),
        access_key_id: principal.access_key_id.clone(),
    };
    let api = query_api(service);
    if state
        .quotas
        .check(&principal.account_id, &principal.region, api, action, &body)
        .is_err()
    {
        return Err(api.throttling_error());
    }
    match state
        .iam
        .call(service, &requester, &params, request_id)
        .await
    {
        Ok(out) => Ok(reply(StatusCode::OK, request_id, "text/xml", out)),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(request_id, action, error = %error_chain(&e), "operation failed");
            }
            Err(e.to_api_error())
        }
    }
}

fn xml_error(e: &ApiError, service: QueryService, request_id: &str) -> Reply {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(
        status,
        request_id,
        "text/xml",
        trent_wire::query::error_response(e, service.namespace(), request_id),
    )
}

fn call_arn(caller: &trent_kms::Caller) -> String {
    caller.requester.arn().to_owned()
}

/// Operator actions act on the whole server, so only the default account may take them: its
/// root, or an IAM principal of it whose identity policies allow `action` (on `*`).
fn authorize_operator(
    state: &State,
    caller: &trent_kms::Caller,
    action: &str,
) -> Result<(), ApiError> {
    let requester = &caller.requester;
    let ctx = requester.context(action, "*");
    let policies: Vec<&trent_policy::Policy> = requester.policies().iter().collect();
    let allowed = requester.account() == state.default_account
        && match trent_policy::evaluate(&policies, &ctx) {
            trent_policy::Decision::Allow(_) => true,
            trent_policy::Decision::ExplicitDeny(_) => false,
            trent_policy::Decision::ImplicitDeny => requester.is_root(),
        };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {action} on resource: * because no \
                 identity-based policy of account {} allows the {action} action",
                requester.arn(),
                state.default_account
            ),
        ))
    }
}

/// The quota family of a Query-protocol service.
fn query_api(service: QueryService) -> Api {
    match service {
        QueryService::Iam => Api::Iam,
        QueryService::Sts => Api::Sts,
    }
}

/// The quota family of a JSON service; operator actions have no quota.
fn quota_api(service: Service) -> Option<Api> {
    match service {
        Service::Kms => Some(Api::Kms),
        Service::Ssm => Some(Api::Ssm),
        Service::Secrets => Some(Api::SecretsManager),
        Service::CloudTrail => Some(Api::CloudTrail),
        Service::Operator => None,
    }
}

fn unknown_operation(operation: &str) -> ApiError {
    ApiError::bad_request(
        "UnknownOperationException",
        format!(
            "Unknown operation '{}'.",
            operation.chars().take(64).collect::<String>()
        ),
    )
}

fn internal_error() -> ApiError {
    ApiError::new(
        "InternalFailure",
        500,
        "The request processing has failed because of an unknown error.",
    )
}
