//! Faults of a PostgreSQL-backed node: the database going away under load (requests fail fast
//! with the services' internal-error answers, nothing half-written, recovery by itself once it
//! is back), and `kill -9` of a node under write load (every acknowledged write is there after a
//! restart, with its audit event). Skipped, saying why, when TRENT_TEST_POSTGRES_URL is unset.
//!
//! The outage is made by a TCP relay between the node and PostgreSQL, stopped and started by
//! the test: from the node's side, exactly a database that vanished and came back, without
//! stopping the PostgreSQL server the other tests share.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use trent_crypto::SecretBytes;

use crate::harness::{TestServer, read_credentials};
use crate::multi_node::Database;

/// A relay from a local port to PostgreSQL that can be cut (every connection dropped, new ones
/// refused) and restored on the same port.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let relay = Relay {
            addr,
            upstream,
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream, Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The database is gone: open connections drop, new ones are refused.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The database is back, on the same address.
    async fn restore(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        self.serve(listener);
    }
}

fn upstream(url: &str) -> SocketAddr {
    let authority = url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap())
        .unwrap();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .unwrap()
        .next()
        .unwrap()
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{addr}/{path}", user.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_fails_requests_fast_and_recovery_is_automatic() {
    let Some(db) = Database::fresh("outage").await else {
        return;
    };
    let relay = Relay::start(upstream(&db.url)).await;
    let dir = tempfile::tempdir().unwrap();
    let url = through(&db.url, relay.addr);
    let root = Arc::new(SecretBytes::random(32).unwrap());
    let server = TestServer::start_with(dir.path(), move |o| {
        o.store = Some(url);
        o.root_key = Some(root);
    })
    .await;
    let ssm = server.ssm();
    let put = |v: &str| {
        ssm.put_parameter()
            .name("/outage/p")
            .value(v)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
    };
    put("before").await.unwrap();

    relay.cut();
    // Every request during the outage answers an internal error, quickly.
    let kms = server.client();
    for _ in 0..3 {
        let started = Instant::now();
        let err = put("during").await.unwrap_err();
        let code = aws_sdk_ssm::error::ProvideErrorMetadata::code(&err)
            .unwrap_or_default()
            .to_owned();
        assert!(
            code == "InternalServerError" || code == "InternalFailure",
            "PutParameter during the outage: {code}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let err = kms.create_key().send().await.unwrap_err();
        let code = crate::harness::code(&err);
        assert!(
            code == "KMSInternalException" || code == "InternalFailure",
            "CreateKey during the outage: {code}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
    }

    relay.restore().await;
    // Back by itself within seconds, with nothing of the failed writes in the store.
    let started = Instant::now();
    let value = loop {
        match ssm.get_parameter().name("/outage/p").send().await {
            Ok(out) => break out.parameter.unwrap().value.unwrap(),
            Err(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("not recovered after {:?}: {e:?}", started.elapsed()),
        }
    };
    eprintln!(
        "recovered {:?} after the database came back",
        started.elapsed()
    );
    assert_eq!(value, "before");
    let history = ssm
        .get_parameter_history()
        .name("/outage/p")
        .send()
        .await
        .unwrap();
    assert_eq!(history.parameters.unwrap().len(), 1);
    put("after").await.unwrap();
    kms.create_key().send().await.unwrap();

    server.stop().await;
    relay.cut();
    db.drop_now().await;
}

pub(crate) struct Node {
    pub child: Child,
    pub endpoint: String,
}

// The child is killed and waited for by the test.
#[allow(clippy::zombie_processes)]
pub(crate) fn start_node(data_dir: &std::path::Path, store: &str) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trent"));
    // Load, not quotas, is under test here: PutParameter alone is 3 a second in AWS.
    command.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--no-quotas",
    ]);
    // An empty store: the one the data directory recorded.
    if !store.is_empty() {
        command.args(["--store", store]);
    }
    let mut child = command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("trent did not report its address in time");
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(addr) = event["addr"].as_str() {
            return Node {
                child,
                endpoint: format!("http://{addr}"),
            };
        }
    }
}

pub(crate) fn ssm_client(endpoint: &str, data_dir: &std::path::Path) -> aws_sdk_ssm::Client {
    let (id, secret) = read_credentials(data_dir);
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "trent-tests",
            ))
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let Some(db) = Database::fresh("kill9").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = start_node(dir.path(), &db.url);
    let ssm = ssm_client(&node.endpoint, dir.path());

    // Writers until the kill, each recording what was acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (ssm, acked) = (ssm.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("/kill9/w{w}/p{i}");
                let put = ssm
                    .put_parameter()
                    .name(&name)
                    .value(format!("value {i}"))
                    .r#type(ParameterType::String)
                    .send()
                    .await;
                match put {
                    Ok(_) => acked.lock().unwrap().push(name),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "only {} writes before the kill",
        acked.len()
    );

    let node = start_node(dir.path(), &db.url);
    let ssm = ssm_client(&node.endpoint, dir.path());
    for name in &acked {
        let got = ssm.get_parameter().name(name).send().await;
        assert!(
            got.is_ok(),
            "acknowledged {name} is missing after kill -9: {got:?}"
        );
    }
    // Each acknowledged write has its audit event, and the chain verifies.
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    eprintln!("{} acknowledged writes survived kill -9", acked.len());
    db.drop_now().await;
}
