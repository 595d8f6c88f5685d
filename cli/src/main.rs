//! `payhook`: run every webhook route locally, send signed samples, inspect
//! what was recorded and published.

mod inspect;
mod send;
mod serve;
mod settings;

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
    /// List published events.
    Events {
        /// One event per line: the exact published JSON.
        #[arg(long)]
        json: bool,
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
    /// Current status of each order.
    Orders {
        #[arg(long)]
        json: bool,
    },
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
    Aws(#[from] payhook::aws::AwsSetupError),
    #[error("cannot sign: {0}")]
    Sign(#[from] payhook::Rejection),
    #[error("{0}")]
    Http(String),
    #[error("payhook answered {0}")]
    Failed(u16),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    payhook::logging::init_text();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("payhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
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
        } => {
            serve::run(serve::ServeOpts {
                listen,
                data_dir: cli.data_dir,
                backend: cli.backend,
                sweep_every: Duration::from_secs(sweep_every_secs.max(1)),
            })
            .await
        }
        Cmd::Send {
            file,
            url,
            eightpay_api,
        } => send::run(&cli.data_dir, &file, &url, eightpay_api.as_deref()).await,
        Cmd::Events {
            json,
            provider,
            order_id,
            status,
            since,
        } => {
            let provider = provider
                .map(|p| {
                    payhook::ProviderId::parse(&p)
                        .ok_or_else(|| CliError::Usage(format!("unknown provider {p}")))
                })
                .transpose()?;
            let status = status
                .map(|s| {
                    payhook::Status::parse(&s)
                        .ok_or_else(|| CliError::Usage(format!("unknown status {s}")))
                })
                .transpose()?;
            let since = since
                .map(|s| {
                    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| CliError::Usage(format!("--since {s}: expected RFC 3339")))
                })
                .transpose()?;
            inspect::events(
                cli.backend,
                &cli.data_dir,
                inspect::EventQuery {
                    provider,
                    order_id,
                    status,
                    since,
                    json,
                },
            )
            .await
        }
        Cmd::Orders { json } => inspect::orders(cli.backend, &cli.data_dir, json).await,
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
