//! An in-memory span exporter: the spans a test's services finished, to read back.

use std::sync::{Arc, Mutex};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// Keeps every finished span.
#[derive(Clone, Debug, Default)]
pub struct Memory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Memory {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

impl Memory {
    /// A tracer provider exporting each span here as it ends.
    pub fn provider(&self) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_simple_exporter(self.clone())
            .build()
    }

    pub fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}
