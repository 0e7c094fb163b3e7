//! Listeners that accept OTLP from services.

pub mod codec;
pub mod grpc;
