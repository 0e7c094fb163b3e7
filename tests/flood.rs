#![allow(clippy::unwrap_used)]

//! burnrate under a bounded flood, in front of an upstream that is slow or
//! down. burnrate must stay up and ready, respond to every request with
//! success or a retryable refusal, keep its memory bounded by its queue, and
//! deliver every accepted span once the upstream keeps up again.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message as _;
use tokio::task::JoinSet;

use support::client::{GrpcClient, HttpClient, http_get};
use support::metrics::Metrics;
use support::otlp;
use support::process::{Burnrate, Memory, Settings, free_address, read_memory};
use support::upstream::Upstream;
use support::{Signal, wait_until};

const SPANS_PER_REQUEST: u64 = 100;
/// Bytes of the attribute on each span, which makes a request about 200 KiB.
const PADDING_BYTES: usize = 2000;
const QUEUE_SIZE: usize = 4;
const CLIENTS_PER_TRANSPORT: usize = 4;
/// Time after which the clients stop sending, so that a hung burnrate cannot
/// hang the test.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for the queue to drain once the upstream keeps up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Transport {
    Grpc,
    Http,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

/// burnrate's response to one request of the flood.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    /// gRPC UNAVAILABLE, or HTTP 503 with `Retry-After`.
    Refused,
    Unexpected(String),
}

#[derive(Clone, Debug)]
struct Sent {
    transport: Transport,
    /// The request's number. Its spans are numbered from
    /// `number * SPANS_PER_REQUEST + 1`.
    number: u64,
    outcome: Outcome,
}

/// Encodes the trace request with number `number`: `SPANS_PER_REQUEST`
/// spans with span ids unique across the flood, each with a padding
/// attribute.
fn flood_request(number: u64) -> Vec<u8> {
    let padding = "f".repeat(PADDING_BYTES);
    let first = number * SPANS_PER_REQUEST + 1;
    let spans = (first..first + SPANS_PER_REQUEST)
        .map(|span_number| {
            otlp::span(
                otlp::trace_id(span_number),
                otlp::span_id(span_number),
                "flood",
                vec![otlp::string_attribute("padding", &padding)],
            )
        })
        .collect();
    otlp::traces("flood", spans).encode_to_vec()
}

fn span_numbers(request_number: u64) -> impl Iterator<Item = u64> {
    let first = request_number * SPANS_PER_REQUEST + 1;
    first..first + SPANS_PER_REQUEST
}

/// Sends the requests `numbers` one after another over `transport` and
/// returns burnrate's responses. Stops early when `stop` is set.
async fn send_requests(
    burnrate: (SocketAddr, SocketAddr),
    transport: Transport,
    numbers: Vec<u64>,
    stop: Arc<AtomicBool>,
) -> Vec<Sent> {
    let (grpc_address, http_address) = burnrate;
    let mut grpc = match transport {
        Transport::Grpc => Some(GrpcClient::connect(grpc_address).await),
        Transport::Http => None,
    };
    let mut http = HttpClient::new(http_address);
    let mut sent = Vec::with_capacity(numbers.len());
    for number in numbers {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let body = flood_request(number);
        let outcome = match grpc.as_mut() {
            Some(grpc) => match grpc.export(Signal::Traces, &body).await {
                Ok(reply) if reply.code == tonic::Code::Ok => Outcome::Accepted,
                Ok(reply) if reply.code == tonic::Code::Unavailable => Outcome::Refused,
                Ok(reply) => Outcome::Unexpected(format!("{reply:?}")),
                Err(error) => Outcome::Unexpected(error),
            },
            None => {
                let headers = [("content-type", "application/x-protobuf")];
                match http.post("/v1/traces", &headers, body).await {
                    Ok(reply) if reply.status == 200 => Outcome::Accepted,
                    Ok(reply) if reply.status == 503 && reply.header("retry-after") == "1" => {
                        Outcome::Refused
                    }
                    Ok(reply) => Outcome::Unexpected(format!(
                        "HTTP {} with Retry-After {:?}: {}",
                        reply.status,
                        reply.header("retry-after"),
                        reply.text()
                    )),
                    Err(error) => Outcome::Unexpected(error),
                }
            }
        };
        sent.push(Sent {
            transport,
            number,
            outcome,
        });
    }
    sent
}

/// What the sampler saw during the flood.
#[derive(Debug, Default)]
struct Samples {
    max_rss_kib: u64,
    memory_samples: usize,
    readiness_checks: usize,
    /// Responses of `GET /readyz` other than 200, or errors.
    not_ready: Vec<String>,
    max_queue_size: f64,
}

/// Samples burnrate's resident memory every 20 ms, and its readiness and
/// queue depth every 200 ms, until `stop` is set.
async fn sample(
    pid: u32,
    admin: SocketAddr,
    metrics: SocketAddr,
    stop: Arc<AtomicBool>,
) -> Samples {
    let mut samples = Samples::default();
    let mut tick: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let memory = read_memory(pid);
        samples.max_rss_kib = samples.max_rss_kib.max(memory.rss_kib);
        samples.memory_samples += 1;
        if tick % 10 == 0 {
            samples.readiness_checks += 1;
            match http_get(admin, "/readyz").await {
                Ok((200, _)) => {}
                Ok((status, body)) => samples.not_ready.push(format!("{status}: {body}")),
                Err(error) => samples.not_ready.push(error),
            }
            if let Ok((200, text)) = http_get(metrics, "/metrics").await {
                let depth = Metrics::parse(&text)
                    .get("burnrate_queue_size", &[("exporter", "upstream")])
                    .unwrap_or(0.0);
                samples.max_queue_size = samples.max_queue_size.max(depth);
            }
        }
        tick += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples
}

/// The result of one flood.
struct Flood {
    sent: Vec<Sent>,
    samples: Samples,
    /// Scrapes right before and right after the flood.
    before: Metrics,
    after: Metrics,
    idle_memory: Memory,
    /// Memory right after the flood; its `peak_rss_kib` covers the moments
    /// between samples too.
    memory_after: Memory,
}

/// Sends `requests_per_transport` requests over gRPC and as many over HTTP,
/// from `CLIENTS_PER_TRANSPORT` concurrent clients each, while sampling
/// burnrate.
async fn flood(burnrate: &Burnrate, requests_per_transport: u64) -> Flood {
    let idle_memory = burnrate.memory();
    let before = burnrate.metrics().await;
    let stop_sending = Arc::new(AtomicBool::new(false));
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample(
        burnrate.pid(),
        burnrate.admin,
        burnrate.metrics_address,
        stop_sampling.clone(),
    ));

    let mut clients = JoinSet::new();
    for (index, transport) in [Transport::Grpc, Transport::Http].into_iter().enumerate() {
        let offset = index as u64 * requests_per_transport;
        for client in 0..CLIENTS_PER_TRANSPORT as u64 {
            let numbers: Vec<u64> = (0..requests_per_transport)
                .filter(|number| number % CLIENTS_PER_TRANSPORT as u64 == client)
                .map(|number| offset + number)
                .collect();
            clients.spawn(send_requests(
                (burnrate.grpc, burnrate.http),
                transport,
                numbers,
                stop_sending.clone(),
            ));
        }
    }
    let watchdog = {
        let stop = stop_sending.clone();
        tokio::spawn(async move {
            tokio::time::sleep(FLOOD_TIMEOUT).await;
            stop.store(true, Ordering::SeqCst);
        })
    };
    let mut sent = Vec::new();
    while let Some(result) = clients.join_next().await {
        sent.extend(result.unwrap());
    }
    watchdog.abort();
    stop_sampling.store(true, Ordering::SeqCst);
    let samples = sampler.await.unwrap();
    let memory_after = burnrate.memory();
    let after = burnrate.metrics().await;
    Flood {
        sent,
        samples,
        before,
        after,
        idle_memory,
        memory_after,
    }
}

/// Checks what must be true of a flood while the upstream is still slow or
/// down. Every request got success or a retryable refusal, and the counters
/// add up per transport. burnrate stayed ready, its queue stayed within its
/// capacity, and its memory stayed bounded.
fn check_flood(flood: &Flood, requests_per_transport: u64, log: &str) {
    // With the upstream down, only the first few requests fit in the queue,
    // and they may all have come over one transport.
    assert!(
        flood
            .sent
            .iter()
            .any(|sent| sent.outcome == Outcome::Accepted),
        "nothing was accepted"
    );
    let unexpected: Vec<&Sent> = flood
        .sent
        .iter()
        .filter(|sent| matches!(sent.outcome, Outcome::Unexpected(_)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} requests got neither success nor a retryable refusal, first: {:?}\n{log}",
        unexpected.len(),
        unexpected.first()
    );

    for transport in [Transport::Grpc, Transport::Http] {
        let label = transport.label();
        let of_transport = |outcome: Outcome| {
            flood
                .sent
                .iter()
                .filter(|sent| sent.transport == transport && sent.outcome == outcome)
                .count() as f64
        };
        let accepted = of_transport(Outcome::Accepted);
        let refused = of_transport(Outcome::Refused);
        assert_eq!(
            accepted + refused,
            requests_per_transport as f64,
            "{label}: every request was sent before the {FLOOD_TIMEOUT:?} timeout"
        );
        assert!(refused > 0.0, "{label}: the queue never filled");

        let change = |name: &str| {
            let labels = [("transport", label)];
            flood.after.counter(name, &labels) - flood.before.counter(name, &labels)
        };
        let spans = SPANS_PER_REQUEST as f64;
        let accepted_spans = change("burnrate_receiver_accepted_spans_total");
        let refused_spans = change("burnrate_receiver_refused_spans_total");
        assert_eq!(accepted_spans, accepted * spans, "{label}: accepted spans");
        assert_eq!(refused_spans, refused * spans, "{label}: refused spans");
        assert_eq!(
            accepted_spans + refused_spans,
            requests_per_transport as f64 * spans,
            "{label}: accepted + refused = sent"
        );
        assert_eq!(
            change("burnrate_receiver_rejected_spans_total"),
            0.0,
            "{label}: rejected spans"
        );
        let invalid_labels = [("signal", "traces"), ("transport", label)];
        let invalid = flood
            .after
            .counter("burnrate_receiver_invalid_requests_total", &invalid_labels)
            - flood
                .before
                .counter("burnrate_receiver_invalid_requests_total", &invalid_labels);
        assert_eq!(invalid, 0.0, "{label}: invalid requests");
    }

    let samples = &flood.samples;
    assert!(
        samples.readiness_checks > 0,
        "the flood ended before readiness was checked"
    );
    assert!(
        samples.not_ready.is_empty(),
        "GET /readyz failed during the flood: {:?}",
        samples.not_ready
    );
    assert!(
        samples.max_queue_size <= QUEUE_SIZE as f64,
        "burnrate_queue_size reached {}, above the queue size {QUEUE_SIZE}",
        samples.max_queue_size
    );

    // The memory bound, an estimate. burnrate keeps a request as received
    // and decoded, about 3 times its encoded size, while it handles it, at
    // most one per client. Its queue keeps at most QUEUE_SIZE requests, and
    // the consumer copies them into one batch that the gRPC client encodes
    // again (3 times QUEUE_SIZE). 32 MiB more covers allocator arenas,
    // HTTP/2 windows and connection buffers. Buffering the whole flood would
    // take all 2 × requests_per_transport requests, hundreds of MiB. On a
    // 2-core machine this test measured peaks 6 to 9 MiB above idle.
    let request_kib = flood_request(0).len() as u64 / 1024;
    let clients = 2 * CLIENTS_PER_TRANSPORT as u64;
    let handled_kib = (3 * clients + 3 * QUEUE_SIZE as u64) * request_kib;
    let bound_kib = flood.idle_memory.rss_kib + handled_kib + 32 * 1024;
    let whole_flood_kib = 2 * requests_per_transport * request_kib;
    assert!(
        samples.memory_samples > 0,
        "the flood ended before memory was sampled"
    );
    assert!(
        bound_kib * 4 < whole_flood_kib,
        "the bound of {bound_kib} KiB must be far below the {whole_flood_kib} KiB of the whole flood"
    );
    assert!(
        samples.max_rss_kib < bound_kib,
        "VmRSS reached {} KiB during the flood, above the bound of {bound_kib} KiB (idle {} KiB, requests of {request_kib} KiB)",
        samples.max_rss_kib,
        flood.idle_memory.rss_kib
    );
    assert!(
        flood.memory_after.peak_rss_kib < bound_kib,
        "VmHWM reached {} KiB by the end of the flood, above the bound of {bound_kib} KiB",
        flood.memory_after.peak_rss_kib
    );
}

/// Numbers of the spans that the upstream received, and how many it
/// received in all, counting repeats.
fn delivered_spans(upstream: &Upstream) -> (HashSet<u64>, usize) {
    upstream.inspect(|received| {
        let mut total = 0;
        let mut unique = HashSet::new();
        for request in received {
            for id in &request.span_ids {
                total += 1;
                unique.insert(u64::from_be_bytes(id[..].try_into().unwrap()));
            }
        }
        (unique, total)
    })
}

/// Waits until burnrate's queue is empty and every accepted span is counted
/// as sent or failed, then checks that the upstream received exactly the
/// accepted spans, less those counted as failed, and none of the refused.
async fn check_delivery(burnrate: &Burnrate, upstream: &Upstream, flood: &Flood) {
    let accepted_total =
        |metrics: &Metrics| metrics.sum("burnrate_receiver_accepted_spans_total", &[]);
    let exporter = [("exporter", "upstream")];
    let ended = |metrics: &Metrics| {
        metrics.counter("burnrate_exporter_sent_spans_total", &exporter)
            + metrics.sum("burnrate_exporter_send_failed_spans_total", &exporter)
    };
    let drained = wait_until(DRAIN_TIMEOUT, || async {
        let metrics = burnrate.metrics().await;
        metrics.counter("burnrate_queue_size", &exporter) == 0.0
            && metrics.counter("burnrate_exporter_in_flight_requests", &exporter) == 0.0
            && ended(&metrics) == accepted_total(&metrics)
    })
    .await;
    let metrics = burnrate.metrics().await;
    assert!(
        drained,
        "the queue did not drain within {DRAIN_TIMEOUT:?}: {} spans accepted, {} sent or failed\n{}",
        accepted_total(&metrics),
        ended(&metrics),
        burnrate.log()
    );

    let mut accepted = HashSet::new();
    let mut refused = HashSet::new();
    for sent in &flood.sent {
        match sent.outcome {
            Outcome::Accepted => accepted.extend(span_numbers(sent.number)),
            Outcome::Refused => refused.extend(span_numbers(sent.number)),
            Outcome::Unexpected(_) => {}
        }
    }
    let (delivered, _) = delivered_spans(upstream);
    let failed = metrics.sum("burnrate_exporter_send_failed_spans_total", &exporter);
    assert!(
        delivered.is_disjoint(&refused),
        "{} spans of refused requests reached the upstream",
        delivered.intersection(&refused).count()
    );
    assert!(
        delivered.is_subset(&accepted),
        "{} spans reached the upstream that the flood never sent",
        delivered.difference(&accepted).count()
    );
    assert_eq!(
        delivered.len() as f64 + failed,
        accepted.len() as f64,
        "every accepted span is delivered or counted in burnrate_exporter_send_failed_spans_total"
    );
}

/// Stops burnrate with SIGTERM and checks that it exits with status 0.
fn stop_cleanly(burnrate: &mut Burnrate) {
    let status = burnrate.stop();
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(0),
        "burnrate did not exit cleanly on SIGTERM\n{}",
        burnrate.log()
    );
}

fn flood_settings(upstream: SocketAddr) -> Settings {
    let mut settings = Settings::new(upstream);
    settings.queue_size = QUEUE_SIZE;
    settings.num_consumers = 1;
    settings.export_timeout = "5s";
    settings.retry_initial_interval = "100ms";
    settings.retry_max_interval = "500ms";
    settings.retry_max_elapsed_time = "120s";
    settings
}

/// 2,000 requests of 100 spans against an upstream that takes 100 ms per
/// export, then the upstream responds at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_with_slow_upstream() {
    const REQUESTS_PER_TRANSPORT: u64 = 1000;
    let upstream = Upstream::start_counting(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    upstream.set_delay(Duration::from_millis(100));
    let mut burnrate = Burnrate::start(&flood_settings(upstream.address)).await;

    let flood = flood(&burnrate, REQUESTS_PER_TRANSPORT).await;
    check_flood(&flood, REQUESTS_PER_TRANSPORT, &burnrate.log());
    assert!(
        burnrate.is_ready().await,
        "burnrate is not ready after the flood"
    );

    upstream.set_delay(Duration::ZERO);
    check_delivery(&burnrate, &upstream, &flood).await;
    stop_cleanly(&mut burnrate);
    upstream.stop().await;
}

/// 2,000 requests of 100 spans while nothing listens on the upstream's
/// address, then the upstream starts there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_with_upstream_down() {
    const REQUESTS_PER_TRANSPORT: u64 = 1000;
    let upstream_address = free_address();
    let mut burnrate = Burnrate::start(&flood_settings(upstream_address)).await;

    let flood = flood(&burnrate, REQUESTS_PER_TRANSPORT).await;
    check_flood(&flood, REQUESTS_PER_TRANSPORT, &burnrate.log());
    assert!(
        burnrate.is_ready().await,
        "burnrate is not ready after the flood"
    );
    let delivered_while_down = flood.after.counter(
        "burnrate_exporter_sent_spans_total",
        &[("exporter", "upstream")],
    );
    assert_eq!(
        delivered_while_down, 0.0,
        "spans sent while the upstream was down"
    );

    let upstream = Upstream::start_counting(upstream_address).await;
    check_delivery(&burnrate, &upstream, &flood).await;
    stop_cleanly(&mut burnrate);
    upstream.stop().await;
}
