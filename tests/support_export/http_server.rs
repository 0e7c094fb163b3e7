//! A scripted OTLP/HTTP server. It records every request and responds to each
//! with the next scripted reply, or with an empty 200 protobuf response when
//! the script is empty.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::pki::TestPki;

/// Maximum scripted delay, so that a slow reply cannot hang a test.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: http::Method,
    pub path: String,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    /// The body bytes as received, still compressed if they were.
    pub body: Bytes,
}

/// One scripted reply.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// Time to wait before responding.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets a protobuf body and its content type.
    pub fn protobuf(self, body: impl Into<Bytes>) -> Reply {
        let mut reply = self.header("content-type", "application/x-protobuf");
        reply.body = body.into();
        reply
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay.min(MAX_DELAY);
        self
    }
}

/// How the server uses TLS.
pub enum Security {
    Plaintext,
    /// TLS with the test server certificate.
    Tls,
    /// TLS that also requires a client certificate issued by the test CA.
    MutualTls,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<Vec<Reply>>,
    handshake_failures: Mutex<Vec<String>>,
}

/// A running server; it stops when dropped.
pub struct HttpServer {
    pub address: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl HttpServer {
    pub async fn start_plaintext() -> HttpServer {
        HttpServer::start(Security::Plaintext, None).await
    }

    /// Starts a server on a free port of 127.0.0.1. `pki` is required with TLS.
    pub async fn start(security: Security, pki: Option<&TestPki>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let acceptor = match security {
            Security::Plaintext => None,
            Security::Tls => Some(tls_acceptor(pki.unwrap(), false)),
            Security::MutualTls => Some(tls_acceptor(pki.unwrap(), true)),
        };
        let state = Arc::new(State::default());
        let task = tokio::spawn(accept_loop(listener, acceptor, state.clone()));
        HttpServer {
            address,
            state,
            task,
        }
    }

    /// Returns the base URL, `http://127.0.0.1:PORT` or `https://...`.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    /// Appends replies to the script; each request takes the first one.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// TLS handshakes that failed, with rustls's error.
    pub fn handshake_failures(&self) -> Vec<String> {
        self.state.handshake_failures.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which ends every connection.
        self.task.abort();
    }
}

fn tls_acceptor(pki: &TestPki, require_client_certificate: bool) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_certificate {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_cert()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(pki.server_cert_chain(), pki.server_key())
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

async fn accept_loop(listener: TcpListener, acceptor: Option<TlsAcceptor>, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        connections.spawn(async move {
            match acceptor {
                None => serve(TokioIo::new(stream), state).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve(TokioIo::new(stream), state).await,
                    Err(error) => state
                        .handshake_failures
                        .lock()
                        .unwrap()
                        .push(error.to_string()),
                },
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn serve<I>(io: I, state: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| respond(request, state.clone()));
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(io, service)
        .await;
}

async fn respond(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts.headers,
        body,
    });

    let reply = {
        let mut script = state.script.lock().unwrap();
        if script.is_empty() {
            None
        } else {
            Some(script.remove(0))
        }
    };
    let reply = reply.unwrap_or_else(|| Reply::new(200).protobuf(Bytes::new()));
    tokio::time::sleep(reply.delay).await;

    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, http::HeaderValue::from_str(&value).unwrap());
    }
    Ok(response)
}
