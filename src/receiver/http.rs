//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics` and `/v1/logs`
//! with protobuf or JSON bodies, optionally gzip-compressed.
//!
//! Status codes follow the OTLP/HTTP specification. A request gets 200, with
//! a partial success when some items were invalid; 400 when it cannot be
//! decoded; 413 when its body is over a size limit; 415 for an unsupported
//! content type or encoding; and 503 with `Retry-After` when an export queue
//! is full.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::BodyExt;
use prost::Message as _;

use super::grpc::ExportResponse;
use super::json;
use crate::pipeline::{Accepted, ConsumeError, Message, Pipeline};
use crate::signal::{Signal, Transport};

/// Seconds a client is asked to wait before retrying when a queue is full.
const RETRY_AFTER_SECONDS: &str = "1";

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Size and time limits of the HTTP receiver.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub request_timeout: Duration,
}

#[derive(Clone)]
struct HttpState {
    pipeline: Arc<Pipeline>,
    limits: HttpLimits,
}

/// Body encoding of a request, which its response uses too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// A response that ends the handling of a request early.
struct Rejection {
    status: StatusCode,
    grpc_code: tonic::Code,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, grpc_code: tonic::Code, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            grpc_code,
            message: message.into(),
        }
    }
}

pub fn router(pipeline: Arc<Pipeline>, limits: HttpLimits) -> Router {
    let state = HttpState { pipeline, limits };
    let mut router = Router::new();
    for signal in Signal::ALL {
        let handler = move |State(state): State<HttpState>, headers: HeaderMap, body: Body| async move {
            export(signal, state, headers, body).await
        };
        router = router.route(signal.http_path(), post(handler));
    }
    router.with_state(state)
}

async fn export(signal: Signal, state: HttpState, headers: HeaderMap, body: Body) -> Response {
    let encoding = match request_encoding(&headers) {
        Ok(encoding) => encoding,
        Err(message) => return plain_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, message),
    };
    let handling = handle(signal, &state, &headers, body, encoding);
    let result = match tokio::time::timeout(state.limits.request_timeout, handling).await {
        Ok(result) => result,
        Err(_) => Err(Rejection::new(
            StatusCode::REQUEST_TIMEOUT,
            tonic::Code::DeadlineExceeded,
            format!(
                "request not received within {:?}",
                state.limits.request_timeout
            ),
        )),
    };
    match result {
        Ok(accepted) => success_response(signal, encoding, accepted),
        Err(rejection) => error_response(encoding, rejection),
    }
}

async fn handle(
    signal: Signal,
    state: &HttpState,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Accepted, Rejection> {
    let pipeline = &state.pipeline;
    let invalid = |message: String| {
        let error = pipeline.invalid(signal, Transport::Http, message);
        Rejection::new(
            StatusCode::BAD_REQUEST,
            tonic::Code::InvalidArgument,
            error.to_string(),
        )
    };
    let gzip = content_encoding_is_gzip(headers).map_err(|message| {
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            tonic::Code::InvalidArgument,
            message,
        )
    })?;

    let body = read_body(headers, body, state.limits.max_body_bytes)
        .await
        .inspect_err(|_| {
            pipeline
                .receiver_stats
                .add_invalid_request(signal, Transport::Http)
        })?;
    let body = if gzip {
        gunzip(&body, state.limits.max_decompressed_bytes).inspect_err(|_| {
            pipeline
                .receiver_stats
                .add_invalid_request(signal, Transport::Http)
        })?
    } else {
        body
    };

    let result = match encoding {
        Encoding::Protobuf => pipeline.consume_protobuf(signal, Transport::Http, body),
        Encoding::Json => {
            let message = decode_json(signal, &body).map_err(invalid)?;
            pipeline.consume(Transport::Http, message, None)
        }
    };
    result.map_err(|error| match error {
        ConsumeError::Invalid { .. } => Rejection::new(
            StatusCode::BAD_REQUEST,
            tonic::Code::InvalidArgument,
            error.to_string(),
        ),
        ConsumeError::TooLarge { .. } => Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::ResourceExhausted,
            error.to_string(),
        ),
        ConsumeError::QueueFull { .. } => Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            tonic::Code::Unavailable,
            error.to_string(),
        ),
    })
}

fn decode_json(signal: Signal, body: &[u8]) -> Result<Message, String> {
    let message = match signal {
        Signal::Traces => json::decode_traces(body).map(Message::Traces),
        Signal::Metrics => json::decode_metrics(body).map(Message::Metrics),
        Signal::Logs => json::decode_logs(body).map(Message::Logs),
    };
    message.map_err(|error| format!("JSON decoding failed: {error}"))
}

fn request_encoding(headers: &HeaderMap) -> Result<Encoding, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(format!(
            "unsupported Content-Type {content_type:?}; send application/x-protobuf or application/json"
        )),
    }
}

fn content_encoding_is_gzip(headers: &HeaderMap) -> Result<bool, String> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let value = String::from_utf8_lossy(value.as_bytes())
        .trim()
        .to_ascii_lowercase();
    match value.as_str() {
        "" | "identity" => Ok(false),
        "gzip" => Ok(true),
        _ => Err(format!(
            "unsupported Content-Encoding {value:?}; send gzip or no encoding"
        )),
    }
}

async fn read_body(headers: &HeaderMap, body: Body, max_bytes: usize) -> Result<Bytes, Rejection> {
    let too_large = || {
        let message =
            format!("request body is larger than {max_bytes} bytes; send smaller batches");
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::ResourceExhausted,
            message,
        )
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }

    match http_body_util::Limited::new(body, max_bytes)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            tonic::Code::InvalidArgument,
            format!("reading the request body failed: {error}"),
        )),
    }
}

/// Inflates a gzip body, stopping as soon as the output passes `max_bytes`,
/// so a small compressed bomb never allocates more than the limit.
fn gunzip(body: &[u8], max_bytes: usize) -> Result<Bytes, Rejection> {
    let mut inflated = Vec::with_capacity(body.len().saturating_mul(4).min(max_bytes));
    let limit = max_bytes as u64 + 1;
    let mut decoder = flate2::read::MultiGzDecoder::new(body).take(limit);
    if let Err(error) = decoder.read_to_end(&mut inflated) {
        let message = format!("gzip decoding failed: {error}");
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            tonic::Code::InvalidArgument,
            message,
        ));
    }
    if inflated.len() > max_bytes {
        let message = format!(
            "request body is larger than {max_bytes} bytes after gzip decompression; send smaller batches"
        );
        return Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            tonic::Code::ResourceExhausted,
            message,
        ));
    }
    Ok(Bytes::from(inflated))
}

fn success_response(signal: Signal, encoding: Encoding, accepted: Accepted) -> Response {
    let response = ExportResponse::new(signal, accepted);
    let body = match encoding {
        Encoding::Protobuf => response.encode_protobuf(),
        Encoding::Json => response.encode_json(),
    };
    encoded_response(StatusCode::OK, encoding, body)
}

fn error_response(encoding: Encoding, rejection: Rejection) -> Response {
    let code = rejection.grpc_code as i32;
    let body = match encoding {
        Encoding::Protobuf => RpcStatus {
            code,
            message: rejection.message,
        }
        .encode_to_vec(),
        Encoding::Json => json::encode_status(code, &rejection.message),
    };
    let mut response = encoded_response(rejection.status, encoding, body);
    if rejection.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

fn encoded_response(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let content_type = match encoding {
        Encoding::Protobuf => "application/x-protobuf",
        Encoding::Json => "application/json",
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn plain_response(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
