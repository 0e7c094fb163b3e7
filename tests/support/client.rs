//! OTLP/HTTP and OTLP/gRPC clients that send arbitrary bytes, so that tests
//! can send bodies that no SDK would produce, and return the status, headers
//! and body exactly as received.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Signal;

/// Time allowed for one request and its response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub type RequestBody = BoxBody<Bytes, Infallible>;

/// An HTTP response as received.
#[derive(Clone, Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpReply {
    /// Returns the value of a response header, or an empty string when the
    /// response has none.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/1.1 client with one keep-alive connection, opened again when the
/// server closes it.
pub struct HttpClient {
    address: SocketAddr,
    sender: Option<SendRequest<RequestBody>>,
}

impl HttpClient {
    pub fn new(address: SocketAddr) -> HttpClient {
        HttpClient {
            address,
            sender: None,
        }
    }

    /// Sends `POST path` with `headers` and a body of known length, which
    /// hyper sends with `Content-Length`.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<HttpReply, String> {
        let body = Full::new(body.into()).boxed();
        self.post_body(path, headers, body).await
    }

    /// Sends `POST path` with any body. hyper sends a body without a known
    /// length with `Transfer-Encoding: chunked`.
    pub async fn post_body(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: RequestBody,
    ) -> Result<HttpReply, String> {
        let mut request = http::Request::builder()
            .method("POST")
            .uri(path)
            .header("host", self.address.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).map_err(|error| error.to_string())?;

        let exchange = async {
            let sender = self.ready_sender().await?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|error| format!("sending the request failed: {error}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|error| format!("reading the response body failed: {error}"))?
                .to_bytes();
            Ok(HttpReply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no response within {REQUEST_TIMEOUT:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<RequestBody>, String> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = Some(connect_http(self.address).await?);
        }
        let sender = self.sender.as_mut().unwrap();
        if sender.ready().await.is_err() {
            *sender = connect_http(self.address).await?;
            sender
                .ready()
                .await
                .map_err(|error| format!("connection not ready: {error}"))?;
        }
        Ok(sender)
    }
}

async fn connect_http(address: SocketAddr) -> Result<SendRequest<RequestBody>, String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|error| format!("connecting to {address} failed: {error}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake with {address} failed: {error}"))?;
    // The task ends when the connection closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends `GET path` on a new connection and returns the status and body.
pub async fn http_get(address: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let get = async {
        let mut sender = connect_http(address).await?;
        let request = http::Request::builder()
            .method("GET")
            .uri(path)
            .header("host", address.to_string())
            .body(Full::new(Bytes::new()).boxed())
            .map_err(|error| error.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("GET {path} failed: {error}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("reading GET {path} failed: {error}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(Duration::from_secs(10), get)
        .await
        .unwrap_or_else(|_| Err(format!("GET {path} timed out")))
}

/// Writes `request` as raw bytes on a new connection while reading, and
/// returns everything the server sends until it closes the connection or
/// 10 s pass. Reading while writing lets a response that the server sends
/// before reading the whole request arrive, even when the server then
/// closes the connection and later writes fail.
pub async fn raw_http_exchange(address: SocketAddr, request: Vec<u8>) -> Result<String, String> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|error| format!("connecting to {address} failed: {error}"))?;
        let (mut reader, mut writer) = stream.into_split();
        let writing = tokio::spawn(async move {
            // A write error means that the server closed the connection; its
            // response, if any, is still read below.
            let _ = writer.write_all(&request).await;
            writer
        });
        let mut response = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => response.extend_from_slice(&buffer[..read]),
            }
        }
        writing.abort();
        Ok(String::from_utf8_lossy(&response).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err("the server did not close the connection within 10 s".to_owned()))
}

/// A gRPC response: its status and, for OK, the response message bytes.
#[derive(Clone, Debug)]
pub struct GrpcReply {
    pub code: tonic::Code,
    pub message: String,
    pub body: Bytes,
}

/// A gRPC client that sends hand-made length-prefixed messages, so that a
/// message can be sent compressed by the test itself, such as a gzip bomb.
#[derive(Clone)]
pub struct GrpcClient {
    channel: tonic::transport::Channel,
    address: SocketAddr,
}

impl GrpcClient {
    pub async fn connect(address: SocketAddr) -> GrpcClient {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
            .connect()
            .await
            .unwrap_or_else(|error| panic!("connecting to {address} failed: {error}"));
        GrpcClient { channel, address }
    }

    /// Sends `message` uncompressed to the signal's Export method.
    pub async fn export(&mut self, signal: Signal, message: &[u8]) -> Result<GrpcReply, String> {
        self.export_frame(signal, Bytes::copy_from_slice(message), false)
            .await
    }

    /// Sends `message` gzip-compressed, with `grpc-encoding: gzip`.
    pub async fn export_gzip(
        &mut self,
        signal: Signal,
        message: &[u8],
    ) -> Result<GrpcReply, String> {
        let compressed = Bytes::from(super::gzip(message));
        self.export_frame(signal, compressed, true).await
    }

    /// Sends one message frame with `payload` as is. With `compressed`, the
    /// frame's compressed flag is set and the request names gzip in
    /// `grpc-encoding`.
    pub async fn export_frame(
        &mut self,
        signal: Signal,
        payload: Bytes,
        compressed: bool,
    ) -> Result<GrpcReply, String> {
        use tower::Service;

        let mut frame = BytesMut::with_capacity(payload.len() + 5);
        frame.put_u8(u8::from(compressed));
        frame.put_u32(u32::try_from(payload.len()).unwrap());
        frame.put(payload);

        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{}{}", self.address, signal.grpc_path()))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if compressed {
            request = request.header("grpc-encoding", "gzip");
        }
        let request = request
            .body(tonic::body::Body::new(Full::new(frame.freeze())))
            .unwrap();

        let channel = &mut self.channel;
        let exchange = async {
            std::future::poll_fn(|context| channel.poll_ready(context))
                .await
                .map_err(|error| format!("gRPC channel not ready: {error}"))?;
            let response = channel
                .call(request)
                .await
                .map_err(|error| format!("gRPC request failed: {error:?}"))?;
            let (parts, body) = response.into_parts();
            let collected = body
                .collect()
                .await
                .map_err(|error| format!("reading the gRPC response failed: {error}"))?;
            let trailers = collected.trailers().cloned().unwrap_or_default();
            let data = collected.to_bytes();
            let status = tonic::Status::from_header_map(&parts.headers)
                .or_else(|| tonic::Status::from_header_map(&trailers))
                .ok_or_else(|| {
                    format!(
                        "HTTP {} response without grpc-status: {parts:?}",
                        parts.status
                    )
                })?;
            Ok(GrpcReply {
                code: status.code(),
                message: status.message().to_owned(),
                body: first_message(data)?,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no gRPC response within {REQUEST_TIMEOUT:?}")))
    }
}

/// Returns the payload of the first length-prefixed message in a gRPC
/// response body, or empty bytes when there is none.
fn first_message(mut data: Bytes) -> Result<Bytes, String> {
    if data.is_empty() {
        return Ok(Bytes::new());
    }
    if data.len() < 5 {
        return Err(format!("truncated gRPC message prefix: {data:?}"));
    }
    let compressed = data.get_u8();
    let length = data.get_u32() as usize;
    if compressed != 0 {
        return Err("the response message is compressed, which was not requested".to_owned());
    }
    if data.len() < length {
        return Err(format!(
            "gRPC message of {length} bytes truncated to {}",
            data.len()
        ));
    }
    Ok(data.split_to(length))
}
