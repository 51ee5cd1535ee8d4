//! A real Trent server on 127.0.0.1:0, in-process, with a manual clock, and clients for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use trent_server::{Options, State};
use trent_store::clock::ManualClock;

pub struct TestServer {
    pub addr: SocketAddr,
    pub endpoint: String,
    pub state: Arc<State>,
    pub clock: Arc<ManualClock>,
    pub data_dir: PathBuf,
    pub access_key_id: String,
    pub secret_access_key: String,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Reads `[trent]` credentials from the shared-credentials file the server writes.
pub fn read_credentials(data_dir: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data_dir.join("root-credentials")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap()
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

impl TestServer {
    /// Production mode (signatures verified) on `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, |_| {}).await
    }

    pub async fn start_with(data_dir: &Path, configure: impl FnOnce(&mut Options)) -> TestServer {
        let clock = Arc::new(ManualClock::starting_now());
        let mut opts = Options::new(data_dir);
        opts.clock = clock.clone();
        // The suite loops management calls far faster than AWS's quotas allow; the throttling
        // tests set the quotas they exercise.
        opts.quotas = trent_server::quota::Quotas::unlimited();
        // Nor does the adaptive limit of admission control apply: the CPU time it reads is the
        // whole test process's (clients and other servers included), not this server's.
        opts.limits.latency_target = std::time::Duration::ZERO;
        configure(&mut opts);
        let dev = opts.dev;
        let started = trent_server::bootstrap(opts).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::watch::channel(false);
        let state = Arc::clone(&started.state);
        // The server and, as `trent serve` runs it, the event delivery task.
        let task = tokio::spawn(async move {
            let mut stop_server = rx.clone();
            let mut stop_delivery = rx;
            let (served, ()) = tokio::join!(
                trent_server::run(listener, Arc::clone(&state), async move {
                    let _ = stop_server.wait_for(|s| *s).await;
                }),
                state.deliver_events(async move {
                    let _ = stop_delivery.wait_for(|s| *s).await;
                }),
            );
            served.unwrap();
        });
        let (access_key_id, secret_access_key) = if dev {
            ("AKIDDEVELOPMENT0001".to_string(), "dev-secret".to_string())
        } else {
            read_credentials(data_dir)
        };
        TestServer {
            addr,
            endpoint: format!("http://{addr}"),
            state: started.state,
            clock,
            data_dir: data_dir.to_path_buf(),
            access_key_id,
            secret_access_key,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn client(&self) -> aws_sdk_kms::Client {
        self.client_as(&self.access_key_id, &self.secret_access_key, "us-east-1")
    }

    /// A client whose clock is the server's manual clock, so signatures stay current when a
    /// test moves time.
    pub fn client_as(
        &self,
        access_key_id: &str,
        secret: &str,
        region: &str,
    ) -> aws_sdk_kms::Client {
        self.client_builder(access_key_id, secret, region)
            .time_source(ClockSource(Arc::clone(&self.clock)))
            .build()
            .pipe(aws_sdk_kms::Client::from_conf)
    }

    /// A Parameter Store client, signing with the server's manual clock.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                &self.access_key_id,
                &self.secret_access_key,
                None,
                None,
                "trent-tests",
            ))
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .time_source(ClockSource(Arc::clone(&self.clock)))
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// A Secrets Manager client for `region`, signing with the server's manual clock.
    pub fn secrets_manager(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(
                region.to_string(),
            ))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                &self.access_key_id,
                &self.secret_access_key,
                None,
                None,
                "trent-tests",
            ))
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
            .time_source(ClockSource(Arc::clone(&self.clock)))
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// A client that signs with the system clock, whatever the server's clock says.
    pub fn client_with_system_time(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            self.client_builder(&self.access_key_id, &self.secret_access_key, "us-east-1")
                .build(),
        )
    }

    fn client_builder(
        &self,
        access_key_id: &str,
        secret: &str,
        region: &str,
    ) -> aws_sdk_kms::config::Builder {
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                access_key_id,
                secret,
                None,
                None,
                "trent-tests",
            ))
            .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
    }

    /// Stops accepting, waits for the server task, closes the store.
    /// A POST to `/` carrying `headers` (the host is added) and `body`, signed with SigV4 for
    /// `service` in us-east-1 at the server's clock, with `credentials` (access key id, secret).
    pub fn signed_post(
        &self,
        (access_key_id, secret_access_key): (&str, &str),
        service: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> http::Request<http_body_util::Full<bytes::Bytes>> {
        use trent_store::clock::Clock as _;
        let host = self.addr.to_string();
        let mut signed: Vec<(&str, &str)> = vec![("host", host.as_str())];
        signed.extend_from_slice(headers);
        let signer = trent_sigv4::Signer {
            access_key_id,
            secret_access_key,
            region: "us-east-1",
            service,
            session_token: None,
        };
        let now = time::OffsetDateTime::from_unix_timestamp(self.clock.now_ms() / 1000).unwrap();
        let added = signer.sign("POST", "/", "", &signed, body, now);
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.endpoint));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        for (k, v) in &added {
            req = req.header(k.as_str(), v.as_str());
        }
        req.body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
            body,
        )))
        .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.state.kms.flush_key_usage().await.unwrap();
        self.state.store.close().await;
    }
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// The server's manual clock as the SDK's time source.
#[derive(Debug)]
struct ClockSource(Arc<ManualClock>);

impl aws_smithy_async::time::TimeSource for ClockSource {
    fn now(&self) -> std::time::SystemTime {
        use trent_store::clock::Clock as _;
        let ms = u64::try_from(self.0.now_ms()).unwrap();
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
    }
}

/// The AWS error code of an SDK error.
pub fn code<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    use aws_sdk_kms::error::ProvideErrorMetadata as _;
    err.code().unwrap_or("<no code>").to_string()
}

/// The AWS error message of an SDK error.
pub fn message<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    use aws_sdk_kms::error::ProvideErrorMetadata as _;
    err.message().unwrap_or("").to_string()
}
