//! Logging: `tracing` to standard error (standard output belongs to CLI results), JSON or
//! pretty per `TOKENMINT_LOG_FORMAT`, levels from `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Levels used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "tokenmint=info,tower_http=info,sqlx=warn";

/// Installs the global subscriber. Calling it again (as tests may) is harmless.
pub fn init(format: LogFormat) {
    init_with_default(format, DEFAULT_FILTER);
}

/// Like [`init`], with other levels for when `RUST_LOG` is unset.
pub fn init_with_default(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
