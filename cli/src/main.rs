//! `payhook`: run every webhook route locally, send signed samples, inspect
//! what was recorded and published.

mod console;
mod deliveries;
mod forward_setup;
mod inspect;
mod logbuf;
mod logfmt;
mod onebuy;
mod replay;
mod send;
mod serve;
mod settings;
mod sign;
mod tls;

use clap::{Parser, Subcommand};
use serve::Backend;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "payhook",
    version,
    about = "Crypto-payment webhooks: verified, recorded once, normalized, published"
)]
struct Cli {
    /// Data directory of the embedded store and development secrets.
    #[arg(
        long,
        global = true,
        env = "PAYHOOK_DATA_DIR",
        default_value = "./.payhook"
    )]
    data_dir: PathBuf,
    /// Storage backend.
    #[arg(
        long,
        global = true,
        env = "PAYHOOK_BACKEND",
        value_enum,
        default_value = "embedded"
    )]
    backend: Backend,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve every webhook route on one port.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PAYHOOK_LISTEN", default_value = "127.0.0.1:3000")]
        listen: String,
        /// How often the sweeper republishes events stuck between recorded and published.
        #[arg(long, default_value_t = 10)]
        sweep_every_secs: u64,
        /// Requests handled at once; more are answered 503 (Retry-After: 1).
        #[arg(long, env = "PAYHOOK_MAX_IN_FLIGHT", default_value_t = 512)]
        max_in_flight: usize,
        /// Milliseconds a request (its body read) waits for an in-flight
        /// slot before it is answered 503; 0 = shed at once.
        #[arg(long, env = "PAYHOOK_QUEUE_MS", default_value_t = 500)]
        queue_ms: u64,
        /// Seconds a client has to send its whole body; a slower one is
        /// answered 408 and holds no in-flight slot meanwhile.
        #[arg(long, env = "PAYHOOK_BODY_TIMEOUT_SECS", default_value_t = 10)]
        body_timeout_secs: u64,
        /// Seconds a connection has to send a request's headers; a slower
        /// (or idle keep-alive) one is closed.
        #[arg(long, env = "PAYHOOK_HEADER_TIMEOUT_SECS", default_value_t = 10)]
        header_timeout_secs: u64,
        /// Open connections at most; more are closed at once.
        #[arg(long, env = "PAYHOOK_MAX_CONNECTIONS", default_value_t = 4096)]
        max_connections: usize,
        /// Threads serving HTTP: 0 = one per CPU core; 1 = a single-threaded
        /// runtime (least CPU per request; the SQLite writer has its own thread).
        #[arg(long, env = "PAYHOOK_WORKERS", default_value_t = 0)]
        workers: usize,
        /// POST every published event to this URL (= PAYHOOK_FORWARD_URL;
        /// the other PAYHOOK_FORWARD_* settings apply).
        #[arg(long)]
        forward_url: Option<String>,
        /// Serve no `/console` (the web console; it needs
        /// PAYHOOK_CONSOLE_TOKEN, generated for development when unset).
        #[arg(long)]
        no_console: bool,
    },
    /// Sign a sample event (an API Gateway event file from events/) as its provider would and post it.
    Send {
        /// The event file, e.g. events/koywe/sample.json.
        file: PathBuf,
        /// Base URL of payhook.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        url: String,
        /// Base URL of an 8Pay API stand-in to register 8Pay notifications with
        /// (default: the one `payhook serve` runs with its development secrets).
        #[arg(long)]
        eightpay_api: Option<String>,
    },
    /// Sign a body as its provider would (newest configured secret) and print
    /// the request to send as JSON: body (base64), headers, path parameters.
    Sign {
        /// The provider (onebuy-wallet-pay, onebuy-checkout, koywe, eightpay, thirdweb).
        #[arg(long)]
        provider: String,
        /// The body: a file, or `-` for stdin.
        #[arg(default_value = "-")]
        body: PathBuf,
        /// Signing time: RFC 3339 or Unix seconds (default: now).
        #[arg(long)]
        at: Option<String>,
        /// A path parameter to include (NAME=VALUE, repeatable), e.g. chain=bsc.
        #[arg(long = "param")]
        params: Vec<String>,
    },
    /// List published events.
    Events {
        /// One event per line: the exact published JSON.
        #[arg(long)]
        json: bool,
        /// Keep running and print each new published event as a JSON line
        /// (after the matching ones already published); Ctrl-C ends it.
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long = "order")]
        order_id: Option<String>,
        #[arg(long)]
        status: Option<String>,
        /// Only events published at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
    },
    /// What forwarding (PAYHOOK_FORWARD_URL) did with each published event.
    Deliveries {
        /// Only the failed ones (every attempt used: the dead letters).
        #[arg(long, conflicts_with = "state")]
        failed: bool,
        /// Only those in this state: pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        json: bool,
        /// Make every failed delivery pending again (dry run unless --yes).
        #[arg(long)]
        retry_failed: bool,
        #[arg(long, requires = "retry_failed")]
        yes: bool,
    },
    /// Current status of each order.
    Orders {
        #[arg(long)]
        json: bool,
    },
    /// Publish recorded events again with the same event id (dry run unless --yes).
    Replay {
        /// Event ids to replay.
        event_ids: Vec<String>,
        /// Instead: send every failed forwarding delivery (dead letter)
        /// again, same webhook-id (= `payhook deliveries --retry-failed`).
        #[arg(long, conflicts_with_all = ["event_ids", "since", "provider"])]
        failed: bool,
        /// Replay every event received at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        provider: Option<String>,
        /// Really publish (otherwise only list what would be replayed).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// 1buy.io merchant API: Wallet Pay payment links and transaction lookup.
    Onebuy(onebuy::OnebuyArgs),
    /// Manage the users Koywe's user-validation callback answers for.
    Users {
        #[command(subcommand)]
        action: UsersCmd,
    },
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Answer `true` for this user.
    Allow {
        email: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Answer `false` for this user.
    Block {
        email: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Forget this user (the default policy applies again).
    Remove { email: String },
    /// List users and their decisions.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Everything the CLI can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Config(#[from] payhook::ConfigError),
    #[error("store: {0}")]
    Store(#[from] payhook::store::StoreError),
    #[error("AWS: {0}")]
    Aws(#[from] payhook_aws::AwsSetupError),
    #[error("cannot sign: {0}")]
    Sign(#[from] payhook::Rejection),
    #[error("{0}")]
    Http(String),
    #[error("payhook answered {0}")]
    Failed(u16),
    #[error(transparent)]
    Onebuy(#[from] onebuy::OnebuyError),
}

/// Logs of `payhook serve`: buffered (see [`logbuf`]), formatted by
/// [`logfmt`] (tracing-subscriber's compact lines, fewer `core::fmt` calls),
/// without colour codes unless stderr is a terminal. The other commands write their few
/// lines directly.
fn init_serve_logging() -> logbuf::BufferedStderr {
    use std::io::IsTerminal;
    let writer = logbuf::BufferedStderr::start();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone())
        .with_ansi(std::io::stderr().is_terminal())
        .with_timer(logfmt::Clock)
        .fmt_fields(logfmt::Fields)
        .compact()
        .try_init();
    writer
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serve_log = match cli.cmd {
        Cmd::Serve { .. } => Some(init_serve_logging()),
        _ => {
            payhook::logging::init_text();
            None
        }
    };
    let workers = match cli.cmd {
        Cmd::Serve { workers, .. } => workers,
        _ => 0,
    };
    let mut builder = match workers {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("payhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    if let Some(log) = serve_log {
        log.flush();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payhook: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.cmd {
        Cmd::Serve {
            listen,
            sweep_every_secs,
            max_in_flight,
            queue_ms,
            body_timeout_secs,
            header_timeout_secs,
            max_connections,
            workers: _,
            no_console,
            forward_url,
        } => {
            serve::run(serve::ServeOpts {
                max_in_flight,
                queue: Duration::from_millis(queue_ms),
                body_timeout: Duration::from_secs(body_timeout_secs.max(1)),
                conns: serve::ConnLimits {
                    max_connections,
                    header_timeout: Duration::from_secs(header_timeout_secs.max(1)),
                },
                listen,
                data_dir: cli.data_dir,
                backend: cli.backend,
                sweep_every: Duration::from_secs(sweep_every_secs.max(1)),
                console: !no_console,
                forward_url,
            })
            .await
        }
        Cmd::Send {
            file,
            url,
            eightpay_api,
        } => send::run(&cli.data_dir, &file, &url, eightpay_api.as_deref()).await,
        Cmd::Sign {
            provider,
            body,
            at,
            params,
        } => {
            let provider = parse_provider(&provider)?;
            let at = match at {
                None => time::OffsetDateTime::now_utc(),
                Some(s) => match s.parse::<i64>() {
                    Ok(secs) => time::OffsetDateTime::from_unix_timestamp(secs)
                        .map_err(|_| CliError::Usage(format!("--at {s}: out of range")))?,
                    Err(_) => parse_time(&s)?,
                },
            };
            let params = params
                .iter()
                .map(|p| sign::parse_param(p))
                .collect::<Result<Vec<_>, _>>()?;
            let body = sign::read_body(&body)?;
            println!(
                "{}",
                sign::run(&cli.data_dir, provider, &body, at, &params)?
            );
            Ok(())
        }
        Cmd::Events {
            json,
            follow,
            provider,
            order_id,
            status,
            since,
        } => {
            let provider = provider.map(|p| parse_provider(&p)).transpose()?;
            let status = status
                .map(|s| {
                    payhook::Status::parse(&s)
                        .ok_or_else(|| CliError::Usage(format!("unknown status {s}")))
                })
                .transpose()?;
            let since = since.map(|s| parse_time(&s)).transpose()?;
            let q = inspect::EventQuery {
                provider,
                order_id,
                status,
                since,
                json,
            };
            if follow {
                inspect::follow(cli.backend, &cli.data_dir, q).await
            } else {
                inspect::events(cli.backend, &cli.data_dir, q).await
            }
        }
        Cmd::Deliveries {
            failed,
            state,
            json,
            retry_failed,
            yes,
        } => {
            if retry_failed {
                return deliveries::retry_failed(cli.backend, &cli.data_dir, yes).await;
            }
            let state = match (failed, state) {
                (true, _) => Some(payhook_embedded::DeliveryState::Failed),
                (false, Some(s)) => {
                    Some(payhook_embedded::DeliveryState::parse(&s).map_err(|_| {
                        CliError::Usage(format!("unknown state {s} (pending, delivered, failed)"))
                    })?)
                }
                (false, None) => None,
            };
            deliveries::list(
                cli.backend,
                &cli.data_dir,
                deliveries::DeliveriesArgs { state, json },
            )
            .await
        }
        Cmd::Orders { json } => inspect::orders(cli.backend, &cli.data_dir, json).await,
        Cmd::Onebuy(args) => onebuy::run(args).await.map_err(CliError::from),
        Cmd::Replay {
            failed: true, yes, ..
        } => deliveries::retry_failed(cli.backend, &cli.data_dir, yes).await,
        Cmd::Replay {
            failed: false,
            event_ids,
            since,
            provider,
            yes,
            json,
        } => {
            let args = replay::ReplayArgs {
                event_ids,
                since: since.map(|s| parse_time(&s)).transpose()?,
                provider: provider.map(|p| parse_provider(&p)).transpose()?,
                yes,
                json,
            };
            replay::run(cli.backend, &cli.data_dir, args).await
        }
        Cmd::Users { action } => {
            use payhook::users::Decision;
            let (b, d) = (cli.backend, &cli.data_dir);
            match action {
                UsersCmd::Allow { email, reason } => {
                    inspect::set_user(b, d, &email, Decision::Allow, reason).await
                }
                UsersCmd::Block { email, reason } => {
                    inspect::set_user(b, d, &email, Decision::Block, reason).await
                }
                UsersCmd::Remove { email } => inspect::remove_user(b, d, &email).await,
                UsersCmd::List { json } => inspect::list_users(b, d, json).await,
            }
        }
    }
}

fn parse_provider(p: &str) -> Result<payhook::ProviderId, CliError> {
    payhook::ProviderId::parse(p).ok_or_else(|| {
        let all: Vec<&str> = payhook::ProviderId::all().map(|p| p.as_str()).collect();
        CliError::Usage(format!("unknown provider {p} (one of {})", all.join(", ")))
    })
}

fn parse_time(s: &str) -> Result<time::OffsetDateTime, CliError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        CliError::Usage(format!(
            "{s}: expected an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"
        ))
    })
}
