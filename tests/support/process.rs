//! The burnrate binary as a child process with a configuration file written
//! for the test, stopped with SIGTERM, and killed if it does not stop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::client::http_get;
use super::metrics::Metrics;

const BINARY: &str = env!("CARGO_BIN_EXE_burnrate");

/// Time allowed for burnrate to become ready, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts burnrate (`$0`, with arguments `$@`) in place of the shell, so it
/// keeps the shell's PID. A watcher beside it sends it SIGTERM if the test
/// process ends without stopping it, as a test process that aborts on a
/// stack overflow runs no destructor. The watcher checks once a second,
/// stops when burnrate ends, and gives up after an hour.
const WATCHED_START: &str = r#"
test_pid=$PPID
(
    checks=0
    while [ "$checks" -lt 3600 ] && kill -0 "$test_pid" 2>/dev/null && kill -0 $$ 2>/dev/null; do
        sleep 1
        checks=$((checks + 1))
    done
    if kill -0 $$ 2>/dev/null && ! kill -0 "$test_pid" 2>/dev/null; then
        kill -TERM $$
    fi
) &
exec "$0" "$@"
"#;

/// Start attempts, for the rare case that another process takes one of the
/// chosen free ports between the choice and burnrate's bind.
const START_ATTEMPTS: usize = 3;

/// The configuration keys that the tests change; the rest keep their
/// defaults.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The upstream that the one exporter, named `upstream`, sends to.
    pub upstream: SocketAddr,
    pub queue_size: usize,
    pub num_consumers: usize,
    pub export_timeout: &'static str,
    pub retry_initial_interval: &'static str,
    pub retry_max_interval: &'static str,
    pub retry_max_elapsed_time: &'static str,
    /// `batch.timeout`: how long a consumer waits for more requests to
    /// combine with the first.
    pub batch_timeout: &'static str,
    pub grpc_max_recv_msg_size_mib: u64,
    pub http_max_request_body_size_mib: u64,
    pub http_max_decompressed_body_size_mib: u64,
    pub shutdown_timeout: &'static str,
    /// `metrics.otlp.interval`; `None` leaves burnrate's own OTLP metrics off.
    pub own_metrics_interval: Option<&'static str>,
}

impl Settings {
    /// Returns the settings of most tests: one consumer, so that the upstream
    /// receives requests in the order burnrate accepted them, and no wait for
    /// more requests to combine into one export.
    pub fn new(upstream: SocketAddr) -> Settings {
        Settings {
            upstream,
            queue_size: 1000,
            num_consumers: 1,
            export_timeout: "10s",
            retry_initial_interval: "100ms",
            retry_max_interval: "1s",
            retry_max_elapsed_time: "60s",
            batch_timeout: "0s",
            grpc_max_recv_msg_size_mib: 16,
            http_max_request_body_size_mib: 16,
            http_max_decompressed_body_size_mib: 64,
            shutdown_timeout: "10s",
            own_metrics_interval: None,
        }
    }

    fn to_yaml(&self, ports: &Ports) -> String {
        format!(
            "\
receivers:
  otlp:
    grpc:
      endpoint: {grpc}
      max_recv_msg_size_mib: {grpc_max}
    http:
      endpoint: {http}
      max_request_body_size_mib: {http_max}
      max_decompressed_body_size_mib: {http_max_decompressed}
metrics:
  prometheus:
    endpoint: {metrics}
  otlp:
    enabled: {own_metrics}
    interval: {own_metrics_interval}
admin:
  endpoint: {admin}
exporters:
  - name: upstream
    endpoint: http://{upstream}
    timeout: {timeout}
    sending_queue:
      queue_size: {queue_size}
      num_consumers: {num_consumers}
    batch:
      timeout: {batch_timeout}
    retry_on_failure:
      enabled: true
      initial_interval: {initial}
      max_interval: {max_interval}
      max_elapsed_time: {max_elapsed}
service:
  shutdown_timeout: {shutdown}
  log_level: info
",
            grpc = ports.grpc,
            http = ports.http,
            metrics = ports.metrics,
            admin = ports.admin,
            grpc_max = self.grpc_max_recv_msg_size_mib,
            http_max = self.http_max_request_body_size_mib,
            http_max_decompressed = self.http_max_decompressed_body_size_mib,
            upstream = self.upstream,
            timeout = self.export_timeout,
            queue_size = self.queue_size,
            num_consumers = self.num_consumers,
            batch_timeout = self.batch_timeout,
            initial = self.retry_initial_interval,
            max_interval = self.retry_max_interval,
            max_elapsed = self.retry_max_elapsed_time,
            shutdown = self.shutdown_timeout,
            own_metrics = self.own_metrics_interval.is_some(),
            own_metrics_interval = self.own_metrics_interval.unwrap_or("60s"),
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    grpc: SocketAddr,
    http: SocketAddr,
    metrics: SocketAddr,
    admin: SocketAddr,
}

impl Ports {
    fn choose() -> Ports {
        Ports {
            grpc: free_address(),
            http: free_address(),
            metrics: free_address(),
            admin: free_address(),
        }
    }
}

/// Returns an address on 127.0.0.1 whose port was free a moment ago.
pub fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Memory of a process as `/proc/PID/status` reports it, in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak of `VmRSS` since the process started.
    pub peak_rss_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` of process `pid` from `/proc/PID/status`.
pub fn read_memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status:\n{status}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_rss_kib: field("VmHWM:"),
    }
}

/// A running burnrate process. Dropping it stops the process.
pub struct Burnrate {
    child: Option<Child>,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub metrics_address: SocketAddr,
    pub admin: SocketAddr,
    log_path: PathBuf,
    _directory: tempfile::TempDir,
}

impl Burnrate {
    /// Writes the configuration, starts burnrate and waits for `GET /readyz`
    /// to return 200.
    pub async fn start(settings: &Settings) -> Burnrate {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match Burnrate::try_start(settings).await {
                Ok(burnrate) => return burnrate,
                Err(log) => last_log = log,
            }
        }
        panic!("burnrate did not become ready in {START_ATTEMPTS} attempts; last log:\n{last_log}");
    }

    async fn try_start(settings: &Settings) -> Result<Burnrate, String> {
        let directory = tempfile::tempdir().unwrap();
        let ports = Ports::choose();
        let config_path = directory.path().join("burnrate.yaml");
        std::fs::write(&config_path, settings.to_yaml(&ports)).unwrap();
        let log_path = directory.path().join("burnrate.log");
        let log = File::create(&log_path).unwrap();

        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHED_START)
            .arg(BINARY)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut burnrate = Burnrate {
            child: Some(child),
            grpc: ports.grpc,
            http: ports.http,
            metrics_address: ports.metrics,
            admin: ports.admin,
            log_path,
            _directory: directory,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if burnrate.has_exited() {
                return Err(burnrate.log());
            }
            if burnrate.is_ready().await {
                return Ok(burnrate);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "not ready within {START_TIMEOUT:?}\n{}",
            burnrate.log()
        ))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Returns true once the process has ended.
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_some(),
            None => true,
        }
    }

    /// Returns true when `GET /readyz` on the admin endpoint returns 200.
    pub async fn is_ready(&self) -> bool {
        matches!(http_get(self.admin, "/readyz").await, Ok((200, _)))
    }

    /// Scrapes `GET /metrics`.
    pub async fn metrics(&self) -> Metrics {
        let (status, body) = http_get(self.metrics_address, "/metrics")
            .await
            .unwrap_or_else(|error| panic!("GET /metrics failed: {error}\n{}", self.log()));
        assert_eq!(status, 200, "GET /metrics returned {status}: {body}");
        Metrics::parse(&body)
    }

    /// Reads `VmRSS` and `VmHWM` from `/proc/PID/status`.
    pub fn memory(&self) -> Memory {
        read_memory(self.pid())
    }

    /// burnrate's log output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the process to end. Returns its exit
    /// status, or `None` when it had to be killed.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        if terminated.is_ok_and(|status| status.success()) {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Burnrate {
    fn drop(&mut self) {
        self.stop();
    }
}
