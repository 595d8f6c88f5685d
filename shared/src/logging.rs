//! Log set-up. One structured line per webhook is written by the pipeline
//! (target `payhook::webhook`); bodies, signatures, secrets and PII are never
//! logged. `RUST_LOG` filters by target and level (`info`,
//! `warn,payhook::webhook=info`; default `info`); an unreadable value falls
//! back to `info`. The filter is tracing-subscriber's `Targets`, which needs
//! no regular-expression engine in the Lambda binaries (span and field
//! filters of `EnvFilter` are not supported).

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The filter `RUST_LOG` describes (default `info`).
pub fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.trim().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

fn filter() -> Targets {
    filter_from(std::env::var("RUST_LOG").ok().as_deref())
}

/// JSON lines (Lambda: `LoggingConfig: LogFormat: JSON`). Safe to call twice.
pub fn init_json() {
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_target(true)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

/// Human-readable lines on stderr (the CLI).
pub fn init_text() {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .compact();
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_targets_and_default() {
        let f = filter_from(None);
        assert!(f.would_enable("payhook::webhook", &Level::INFO));
        assert!(!f.would_enable("payhook::webhook", &Level::DEBUG));
        let f = filter_from(Some("warn,payhook::webhook=debug"));
        assert!(f.would_enable("payhook::webhook", &Level::DEBUG));
        assert!(!f.would_enable("aws_smithy_runtime", &Level::INFO));
        assert!(f.would_enable("aws_smithy_runtime", &Level::WARN));
        // Unreadable: info.
        let f = filter_from(Some("payhook=loud"));
        assert!(f.would_enable("payhook", &Level::INFO));
        assert!(!f.would_enable("payhook", &Level::DEBUG));
    }
}
