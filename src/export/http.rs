//! OTLP/HTTP export with protobuf bodies: `POST <endpoint>/v1/traces`,
//! `/v1/metrics` or `/v1/logs`, with the response handling of the OTLP/HTTP
//! specification.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use flate2::write::GzEncoder;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use rustls::ClientConfig;

use super::client::{self, CONNECT_TIMEOUT, ExportError, USER_AGENT};
use super::grpc::RpcStatus;
use super::retry;
use crate::config::{self, Compression};
use crate::signal::Signal;

const PROTOBUF: &str = "application/x-protobuf";

/// Maximum number of response body bytes read. An OTLP response and a
/// `google.rpc.Status` are usually far smaller, and a larger body is cut here.
const MAX_RESPONSE_BODY_BYTES: usize = 64 * 1024;

/// Maximum number of characters of a plain-text error body quoted in an
/// error message.
const MAX_BODY_EXCERPT_CHARS: usize = 300;

/// A pooled hyper client for `http://` and `https://` URLs.
pub(crate) type PooledHttpClient = PooledClient<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct HttpClient {
    client: PooledHttpClient,
    /// The request URL of each signal, indexed by `Signal as usize`.
    urls: [Uri; 3],
    headers: HeaderMap,
    compression: Compression,
    timeout: Duration,
}

impl HttpClient {
    /// Builds a client whose connections open on the first request. Reads
    /// the TLS files now.
    pub fn new(settings: &config::Exporter) -> Result<HttpClient, ExportError> {
        let setup_error = |message: String| ExportError::setup(settings, message);
        let base = config::parse_endpoint_url(&settings.endpoint).map_err(setup_error)?;
        let urls = Signal::ALL.map(|signal| signal_url(&base, signal));
        let [traces, metrics, logs] = urls;
        let urls = [
            traces.map_err(setup_error)?,
            metrics.map_err(setup_error)?,
            logs.map_err(setup_error)?,
        ];

        let https = base.scheme_str() == Some("https");
        let client = pooled_client(https, &settings.tls).map_err(setup_error)?;

        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| setup_error(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| setup_error(format!("invalid value for header {name:?}")))?;
            headers.insert(name, value);
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        headers
            .entry(header::USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT));
        if settings.compression == Compression::Gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }

        Ok(HttpClient {
            client,
            urls,
            headers,
            compression: settings.compression,
            timeout: settings.timeout,
        })
    }

    /// Sends one request and returns the number of items that the upstream
    /// reported as rejected in a partial success. The exporter's `timeout`
    /// covers the whole attempt, from connecting to reading the response.
    pub async fn export(&self, signal: Signal, body: Bytes) -> Result<u64, ExportError> {
        let url = &self.urls[signal as usize];
        let body = match self.compression {
            Compression::None => body,
            Compression::Gzip => gzip(&body).map_err(|error| ExportError::Transport {
                message: format!("gzip compression failed: {error}"),
            })?,
        };
        let (status, headers, body) = post(
            &self.client,
            url,
            self.headers.clone(),
            body,
            self.timeout,
            "exporter",
        )
        .await?;

        if status.is_success() {
            return Ok(if is_protobuf(&headers) {
                client::rejected_items(signal, body)
            } else {
                0
            });
        }
        Err(response_error(status, &headers, &body, SystemTime::now()))
    }
}

/// Builds a pooled client whose connections open on the first request. With
/// `https`, it trusts the system roots plus `tls.ca_file` and rejects
/// `http://` URLs; without it, it sends plaintext.
pub(crate) fn pooled_client(https: bool, tls: &config::Tls) -> Result<PooledHttpClient, String> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.enforce_http(false);
    // An `http://` endpoint never uses the TLS settings, but the
    // connector type needs some.
    let tls = if https {
        tls_config(tls)
    } else {
        rustls_builder().map(|builder| {
            builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        })
    }?;
    let builder = HttpsConnectorBuilder::new().with_tls_config(tls);
    // `https_only` turns a scheme mix-up into an error instead of plaintext.
    let builder = if https {
        builder.https_only()
    } else {
        builder.https_or_http()
    };
    let connector = builder
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Ok(PooledClient::builder(TokioExecutor::new()).build(connector))
}

/// Sends one POST and reads the response. `timeout` covers the attempt from
/// connecting to reading the response, and `owner` ("exporter" or
/// "notifier") names whose `timeout` it is in the error.
pub(crate) async fn post(
    client: &PooledHttpClient,
    url: &Uri,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
    owner: &str,
) -> Result<(StatusCode, HeaderMap, Bytes), ExportError> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = url.clone();
    *request.headers_mut() = headers;

    let attempt = async {
        match client.request(request).await {
            Ok(response) => Ok(read_response(response).await),
            Err(error) => Err(ExportError::Transport {
                message: format!("request to {url} failed: {}", client::error_chain(&error)),
            }),
        }
    };
    let timed_out = |_| ExportError::Transport {
        message: format!(
            "no response from {url} within {} (the {owner}'s `timeout`)",
            humantime::format_duration(timeout)
        ),
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(timed_out)?
}

/// Builds the URL of one signal: the endpoint's path without a trailing
/// slash, then `/v1/<signal>`.
fn signal_url(base: &Uri, signal: Signal) -> Result<Uri, String> {
    let base_path = base.path().trim_end_matches('/');
    let path = format!("{base_path}{}", signal.http_path());
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(
        path.parse()
            .map_err(|error| format!("invalid path {path:?}: {error}"))?,
    );
    Uri::from_parts(parts).map_err(|error| format!("invalid URL for {path:?}: {error}"))
}

/// Builds the rustls settings of an `https://` endpoint: the system roots
/// plus `tls.ca_file`, and the client certificate when configured.
fn tls_config(tls: &config::Tls) -> Result<ClientConfig, String> {
    let roots = client::root_certificates(tls)?;
    let identity = tls
        .read_client_identity()
        .map_err(|error| format!("`tls.{}`: {}", error.key, error.message))?;
    let builder = rustls_builder()?.with_root_certificates(roots);
    match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.certificate_chain, identity.private_key)
            .map_err(|error| format!("invalid client certificate: {error}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn rustls_builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup failed: {error}"))
}

fn gzip(body: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(body)?;
    encoder.finish().map(Bytes::from)
}

/// Reads the status, headers and at most [`MAX_RESPONSE_BODY_BYTES`] of the
/// body. A body that is too long or broken is read as empty, because the
/// status decides whether the export succeeded.
async fn read_response(response: Response<Incoming>) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_RESPONSE_BODY_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    (parts.status, parts.headers, body)
}

fn is_protobuf(headers: &HeaderMap) -> bool {
    content_type(headers).is_none_or(|content_type| content_type == PROTOBUF)
}

/// Returns the media type of the `Content-Type` header, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or_default();
    Some(media_type.trim().to_ascii_lowercase())
}

/// Builds the error of a response that is not 2xx.
pub(crate) fn response_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> ExportError {
    let message = if status.is_redirection() {
        let location = headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("an unnamed location");
        format!(
            "redirect to {location}; burnrate does not follow redirects, so set the endpoint to the final URL"
        )
    } else {
        error_message(headers, body)
    };
    let retry_after = if retry::is_retryable_http(status) {
        headers
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, now))
    } else {
        None
    };
    ExportError::Http {
        status,
        message,
        retry_after,
    }
}

/// Describes an error body: the `google.rpc.Status` message of a protobuf
/// or JSON body, else the start of a text body.
fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
    if body.is_empty() {
        return "the response body is empty".to_owned();
    }
    let content_type = content_type(headers);
    let status_message = match content_type.as_deref() {
        None | Some(PROTOBUF) => RpcStatus::decode(body)
            .ok()
            .map(|status| status.message)
            .filter(|message| !message.trim().is_empty()),
        Some("application/json") => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|json| json.get("message")?.as_str().map(str::to_owned))
            .filter(|message| !message.trim().is_empty()),
        Some(_) => None,
    };
    if let Some(message) = status_message {
        return message;
    }
    match std::str::from_utf8(body) {
        Ok(text) if content_type.is_some_and(|media_type| media_type != PROTOBUF) => {
            let excerpt: String = text.trim().chars().take(MAX_BODY_EXCERPT_CHARS).collect();
            format!("response body: {excerpt:?}")
        }
        _ => format!(
            "the {}-byte response body holds no google.rpc.Status message",
            body.len()
        ),
    }
}

/// Parses a `Retry-After` value: a number of seconds or an HTTP date. A date
/// in the past is a zero delay.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_url_appends_path_to_base() {
        let base: Uri = "https://otlp.example.net/otlp/".parse().unwrap();
        let url = signal_url(&base, Signal::Metrics).unwrap();
        assert_eq!(url.to_string(), "https://otlp.example.net/otlp/v1/metrics");
    }

    #[test]
    fn signal_url_without_path() {
        let base: Uri = "http://127.0.0.1:4318".parse().unwrap();
        let url = signal_url(&base, Signal::Traces).unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:4318/v1/traces");
    }

    #[test]
    fn retry_after_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let value = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(parse_retry_after(value, now), Some(Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_past_date_is_zero() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let value = "Wed, 21 Oct 2015 07:00:00 GMT";
        assert_eq!(parse_retry_after(value, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_invalid_is_none() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    #[test]
    fn error_message_from_protobuf_status() {
        let body = RpcStatus {
            code: 3,
            message: "invalid span id".to_owned(),
            details: Vec::new(),
        }
        .encode_to_vec();
        let message = error_message(&headers("application/x-protobuf"), &body);
        assert_eq!(message, "invalid span id");
    }

    #[test]
    fn error_message_from_json_status() {
        let body = br#"{"code": 16, "message": "unknown API key"}"#;
        let message = error_message(&headers("application/json; charset=utf-8"), body);
        assert_eq!(message, "unknown API key");
    }

    #[test]
    fn error_message_from_text_body() {
        let message = error_message(&headers("text/plain"), b"upstream connect error\n");
        assert_eq!(message, "response body: \"upstream connect error\"");
    }

    #[test]
    fn error_message_of_empty_body() {
        let message = error_message(&HeaderMap::new(), b"");
        assert_eq!(message, "the response body is empty");
    }

    #[test]
    fn retry_after_ignored_on_permanent_status() {
        let mut response_headers = HeaderMap::new();
        response_headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        let error = response_error(
            StatusCode::BAD_REQUEST,
            &response_headers,
            b"",
            SystemTime::now(),
        );
        assert_eq!(error.retry_after(), None);
        assert!(!error.is_retryable());
    }

    #[test]
    fn redirect_names_location() {
        let mut response_headers = HeaderMap::new();
        response_headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://other.example.net/v1/traces"),
        );
        let error = response_error(
            StatusCode::MOVED_PERMANENTLY,
            &response_headers,
            b"",
            SystemTime::now(),
        );
        assert!(!error.is_retryable());
        assert!(
            error
                .to_string()
                .contains("redirect to https://other.example.net/v1/traces"),
            "{error}"
        );
    }

    #[test]
    fn gzip_round_trip() {
        use std::io::Read;
        let body = b"abcabcabcabc".repeat(100);
        let compressed = gzip(&body).unwrap();
        assert!(compressed.len() < body.len());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, body);
    }
}
