//! Listeners that accept OTLP from services.

pub mod codec;
pub mod grpc;
pub mod http;
pub mod json;
pub mod listener;
