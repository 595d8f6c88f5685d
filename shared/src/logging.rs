//! Log set-up. One structured line per webhook is written by the pipeline
//! (target `payhook::webhook`); bodies, signatures, secrets and PII are never
//! logged. `RUST_LOG` filters as usual (default `info`).

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// JSON lines (Lambda: `LoggingConfig: LogFormat: JSON`). Safe to call twice.
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_target(true)
        .without_time()
        .try_init();
}

/// Human-readable lines on stderr (the CLI).
pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}
