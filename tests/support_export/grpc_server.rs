//! A scripted OTLP/gRPC trace server. It records every export request and
//! responds to each with the next scripted reply, or accepts it when the
//! script is empty.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::pki::TestPki;

/// One scripted reply.
#[derive(Clone, Debug)]
pub enum GrpcReply {
    /// Accept, reporting this many spans as rejected in a partial success.
    Accept { rejected_spans: i64 },
    /// Fail with a status whose details are the encoded `google.rpc.Status`.
    Fail {
        code: tonic::Code,
        message: String,
        details: Bytes,
    },
}

/// One export request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub metadata: http::HeaderMap,
    pub request: ExportTraceServiceRequest,
    /// Whether the client presented a TLS certificate.
    pub client_certificate: bool,
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<Vec<GrpcReply>>,
}

struct Service {
    state: Arc<State>,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let client_certificate = request
            .peer_certs()
            .is_some_and(|certificates| !certificates.is_empty());
        let metadata = request.metadata().clone().into_headers();
        self.state.requests.lock().unwrap().push(Recorded {
            metadata,
            request: request.into_inner(),
            client_certificate,
        });

        let reply = {
            let mut script = self.state.script.lock().unwrap();
            if script.is_empty() {
                GrpcReply::Accept { rejected_spans: 0 }
            } else {
                script.remove(0)
            }
        };
        match reply {
            GrpcReply::Accept { rejected_spans } => {
                let partial_success = (rejected_spans > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans,
                    error_message: "spans rejected by the test server".to_owned(),
                });
                Ok(tonic::Response::new(ExportTraceServiceResponse {
                    partial_success,
                }))
            }
            GrpcReply::Fail {
                code,
                message,
                details,
            } => Err(tonic::Status::with_details(code, message, details)),
        }
    }
}

/// A running server; it stops when dropped.
pub struct GrpcServer {
    pub address: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl GrpcServer {
    /// Starts a server on a free port of 127.0.0.1 that accepts gzip. With
    /// `pki`, it uses TLS, and with `require_client_certificate` also
    /// requires a client certificate issued by the test CA.
    pub async fn start(pki: Option<&TestPki>, require_client_certificate: bool) -> GrpcServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = Arc::new(State::default());

        let mut builder = Server::builder();
        if let Some(pki) = pki {
            let identity = Identity::from_pem(&pki.server_cert_pem, &pki.server_key_pem);
            let mut tls = ServerTlsConfig::new().identity(identity);
            if require_client_certificate {
                tls = tls.client_ca_root(Certificate::from_pem(&pki.ca_pem));
            }
            builder = builder.tls_config(tls).unwrap();
        }
        let service = TraceServiceServer::new(Service {
            state: state.clone(),
        })
        .accept_compressed(CompressionEncoding::Gzip);

        let (stop, stopped) = oneshot::channel::<()>();
        let router = builder.add_service(service);
        let task = tokio::spawn(async move {
            let incoming = TcpIncoming::from(listener);
            let _ = router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        GrpcServer {
            address,
            state,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.address)
    }

    pub fn script(&self, replies: impl IntoIterator<Item = GrpcReply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
