//! `payhook serve`: every route on one port, the embedded store by default.

use crate::CliError;
use crate::settings::Settings;
use axum::Router;
use axum::extract::{RawPathParams, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use payhook::koywe_callback::{self, Validator};
use payhook::pipeline::{Limits, Reply};
use payhook::providers::{self, Provider};
use payhook::publish::Publisher;
use payhook::store::{EventStore, Store};
use payhook::{App, ConfigError, ProviderId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use payhook_cli::standin::MOUNT as STANDIN_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// SQLite file under the data dir (default).
    Embedded,
    /// In process memory only: nothing survives a restart (benchmarks, demos).
    /// Published messages are counted, not kept: nothing in the process reads them.
    Memory,
    /// DynamoDB + SQS (`PAYHOOK_TABLE`, `PAYHOOK_QUEUE_URL`, standard AWS
    /// settings; `AWS_ENDPOINT_URL` for moto).
    Aws,
}

pub struct ServeOpts {
    /// Requests handled at once; more are shed with 503 + `Retry-After`
    /// instead of queueing (bounded memory and latency under overload).
    pub max_in_flight: usize,
    /// How long a request whose body is read waits for an in-flight slot
    /// before it is shed (0: shed at once).
    pub queue: Duration,
    /// The whole body must arrive within this; it is read before an
    /// in-flight slot is taken, so slow clients cannot hold the slots.
    pub body_timeout: Duration,
    /// Open connections and header deadline.
    pub conns: ConnLimits,
    pub listen: String,
    pub data_dir: PathBuf,
    pub backend: Backend,
    pub sweep_every: Duration,
    /// Serve `/console`.
    pub console: bool,
    /// `--forward-url` (wins over PAYHOOK_FORWARD_URL).
    pub forward_url: Option<String>,
}

/// Open the configured backend's store and publisher.
pub async fn backend(
    kind: Backend,
    data_dir: &std::path::Path,
    cfg: &payhook::Config,
) -> Result<(Arc<dyn Store>, Arc<dyn Publisher>), CliError> {
    let parts = backend_parts(kind, data_dir, cfg).await?;
    Ok((parts.store, parts.publisher))
}

/// What [`backend_parts`] opens.
struct Parts {
    store: Arc<dyn Store>,
    publisher: Arc<dyn Publisher>,
    /// Records, publishes and completes a new event in one write when the
    /// publisher is the store's own outbox (embedded).
    recorder: Option<Arc<dyn payhook::pipeline::Recorder>>,
    /// The embedded store itself (forwarding reads its outbox).
    sqlite: Option<payhook_embedded::SqliteStore>,
}

/// [`backend`], plus the recorder and the embedded store.
async fn backend_parts(
    kind: Backend,
    data_dir: &std::path::Path,
    cfg: &payhook::Config,
) -> Result<Parts, CliError> {
    match kind {
        Backend::Embedded => {
            std::fs::create_dir_all(data_dir).map_err(|e| CliError::Io {
                what: format!("create {}", data_dir.display()),
                source: e,
            })?;
            let sqlite = payhook_embedded::SqliteStore::open(&data_dir.join("payhook.db"))?;
            let store = Arc::new(sqlite.clone());
            let outbox = payhook_embedded::SqliteOutbox::new(&store);
            Ok(Parts {
                store: store.clone(),
                publisher: Arc::new(outbox),
                recorder: Some(store),
                sqlite: Some(sqlite),
            })
        }
        Backend::Memory => Ok(Parts {
            store: Arc::new(payhook::store::memory::MemoryStore::new()),
            publisher: Arc::new(payhook::publish::memory::CountingPublisher::new()),
            recorder: None,
            sqlite: None,
        }),
        Backend::Aws => {
            let sdk = payhook_aws::sdk_config().await;
            let (store, publisher) = payhook_aws::aws_backend(cfg, &sdk).await?;
            Ok(Parts {
                store,
                publisher,
                recorder: None,
                sqlite: None,
            })
        }
    }
}

pub async fn run(opts: ServeOpts) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| CliError::Io {
            what: format!("listen on {}", opts.listen),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| CliError::Io {
        what: "read the listening address".into(),
        source: e,
    })?;
    let mut settings = Settings::load(&opts.data_dir)?;
    if let Some(u) = &opts.forward_url {
        settings.set_flag(payhook_cli::forward::URL_SETTING, u);
    }
    let generated = settings.nothing_configured();
    if generated {
        settings.generate_dev(&opts.data_dir)?;
    }
    let dev_standin = settings.uses_dev_standin();
    let cfg = settings.config_for(&format!("http://{addr}"))?;
    let forward = crate::forward_setup::load(&mut settings, &opts.data_dir)?;
    let tls = crate::tls::TlsFiles::from_lookup(|k| settings.get(k))?
        .map(crate::tls::acceptor)
        .transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let Parts {
        store: backend_store,
        publisher,
        recorder,
        sqlite,
    } = backend_parts(opts.backend, &opts.data_dir, &cfg).await?;
    if let Some(db) = &sqlite {
        db.console_indexes(opts.console).await?;
    }
    let forwarder = match (forward, &sqlite) {
        (None, _) => None,
        (Some(f), Some(db)) => {
            let deliveries = payhook_embedded::Deliveries::open(db).await?;
            deliveries.begin().await?;
            Some((
                payhook_cli::forward::Forwarder::new(deliveries, f.config)?,
                f.generated,
            ))
        }
        (Some(_), None) => {
            return Err(CliError::Usage(format!(
                "{} needs the embedded backend (with --backend aws, consume the SQS queue)",
                payhook_cli::forward::URL_SETTING
            )));
        }
    };
    let store: Arc<dyn EventStore> = backend_store.clone();
    let limits = Limits::from(&cfg);

    let activity = Arc::new(crate::console::activity::Activity::default());
    let mut router = Router::new().route("/healthz", get(|| async { "ok" }));
    let mut lines = Vec::new();
    for id in ProviderId::all() {
        match providers::build(id, &cfg) {
            Ok(p) => {
                let route = p.route();
                lines.push(format!("  POST {}", show_route(&*p, &settings)));
                let mut app = App::new(p, store.clone(), publisher.clone(), limits);
                if let Some(r) = &recorder {
                    app = app.with_recorder(r.clone());
                }
                let hook = Arc::new(Hook {
                    app,
                    activity: activity.clone(),
                });
                router = router.route(route, any(webhook).with_state(hook));
            }
            // Only a provider whose settings are absent is left out; one
            // set but invalid stops start-up, naming the setting.
            Err(e @ ConfigError::Missing { .. }) => {
                lines.push(format!("  {id}: not configured ({e})"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut validation = None;
    match Validator::from_config(&cfg, backend_store.clone()) {
        Ok(v) => {
            validation = Some(v.auth.method());
            lines.push(format!(
                "  POST {} (auth: {})",
                koywe_callback::ROUTE,
                v.auth.method()
            ));
            router = router.route(koywe_callback::ROUTE, any(validate).with_state(Arc::new(v)));
        }
        Err(e @ ConfigError::Missing { .. }) => {
            lines.push(format!("  user validation: not configured ({e})"))
        }
        Err(e) => return Err(e.into()),
    }
    if dev_standin {
        router = router.nest(
            STANDIN_PREFIX,
            payhook_cli::standin::router(
                providers::eightpay::Settings::from_config(&cfg)?.keys,
                payhook_cli::standin::StandIn::new(),
            ),
        );
    }
    let console = if opts.console {
        let (token, generated) = crate::console::token(&mut settings, &opts.data_dir)?;
        let (source, deliveries) = match &sqlite {
            Some(db) => (
                crate::console::source::Source::Embedded(payhook_embedded::Reader::open(
                    &opts.data_dir.join("payhook.db"),
                )?),
                Some(payhook_embedded::Deliveries::open(db).await?),
            ),
            None => (
                crate::console::source::Source::Port(backend_store.clone()),
                None,
            ),
        };
        let c = crate::console::Console {
            auth: crate::console::auth::Auth::new(token),
            source,
            store: backend_store.clone(),
            publisher: publisher.clone(),
            deliveries,
            forwarding: forwarder.as_ref().map(|(f, _)| f.config.url.to_string()),
            validation,
            activity: activity.clone(),
            secure: tls.is_some(),
        };
        router = router.nest("/console", crate::console::router(Arc::new(c)));
        Some(generated)
    } else {
        None
    };
    println!(
        "payhook serve: listening on {scheme}://{addr} ({:?} backend{})",
        opts.backend,
        if tls.is_some() {
            ", TLS: HTTP/2 and HTTP/1.1, certificate reloaded on SIGHUP or change"
        } else {
            ""
        }
    );
    if generated {
        println!(
            "No secrets were configured: generated development secrets in {} (development only):",
            settings.file_path.display()
        );
        for (k, v) in &settings.file {
            println!("  {k}={v}");
        }
    }
    if dev_standin {
        println!(
            "  8Pay API: built-in DEVELOPMENT stand-in at http://{addr}{STANDIN_PREFIX} (not 8Pay)"
        );
    }
    println!("Routes:");
    for l in &lines {
        println!("{l}");
    }
    if let Some((f, generated)) = &forwarder {
        println!(
            "Forwarding every published event to {} (Standard Webhooks signatures; payhook deliveries)",
            f.config.url
        );
        if let Some(secret) = generated {
            println!(
                "  generated development secret {}={} (verify deliveries with it)",
                payhook_cli::forward::SECRETS_SETTING,
                secret.expose()
            );
        }
    }
    match &console {
        Some(Some(token)) => println!(
            "Console: {scheme}://{addr}/console (generated development token {}={})",
            crate::console::auth::TOKEN_SETTING,
            token.expose()
        ),
        Some(None) => println!(
            "Console: {scheme}://{addr}/console (token: {})",
            crate::console::auth::TOKEN_SETTING
        ),
        None => {}
    }
    println!("Try: payhook send events/koywe/sample.json");

    let limit = Arc::new(Shed {
        slots: tokio::sync::Semaphore::new(opts.max_in_flight.max(1)),
        queue: opts.queue,
        body_timeout: opts.body_timeout,
        max_body_bytes: cfg.max_body_bytes.max(koywe_callback::MAX_BODY_BYTES),
        activity: activity.clone(),
    });
    let router = router.layer(axum::middleware::from_fn_with_state(limit, shed));
    let sweeper = tokio::spawn(sweep_loop(
        store.clone(),
        publisher.clone(),
        limits,
        opts.sweep_every,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let forwarding = forwarder.map(|(f, _)| tokio::spawn(f.run(stop_rx)));
    let tls_watch = tls
        .as_ref()
        .map(|(_, r)| tokio::spawn(crate::tls::watch(r.clone())));
    accept_loop(listener, router, opts.conns, tls.map(|(a, _)| a)).await;
    if let Some(w) = tls_watch {
        w.abort();
    }
    sweeper.abort();
    // Stop forwarding: attempts in flight finish and are recorded (each
    // bounded by the forward timeout); pending ones resume at next start.
    let _ = stop_tx.send(true);
    if let Some(f) = forwarding {
        let _ = f.await;
    }
    Ok(())
}

/// Connection limits of [`accept_loop`].
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// A connection must deliver a request's headers within this (hyper's
    /// header read timeout, with a timer), else it is closed.
    pub header_timeout: Duration,
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (systemd's stop).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Accept connections until Ctrl-C or SIGTERM and serve each with hyper:
/// plain connections with HTTP/1.1 (a timer set, so `header_timeout`
/// applies); with `tls`, each connection first completes its TLS handshake
/// within `header_timeout`, then speaks HTTP/2 or HTTP/1.1 as ALPN chose.
/// At most `max_connections` at once. On Ctrl-C or SIGTERM: stop accepting
/// and let open connections finish (bounded by 10 s).
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut ctrl_c = std::pin::pin!(shutdown_signal());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut ctrl_c => break,
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            // Over the connection cap: closed at once (bounded memory).
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let ended = match tls {
                None => serve_http1(stream, service, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                            if h2 {
                                let mut http = hyper::server::conn::http2::Builder::new(
                                    hyper_util::rt::TokioExecutor::new(),
                                );
                                http.timer(hyper_util::rt::TokioTimer::new())
                                    .max_concurrent_streams(256)
                                    .keep_alive_interval(limits.header_timeout)
                                    .keep_alive_timeout(limits.header_timeout);
                                let conn = http
                                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service);
                                watcher.watch(conn).await.map_err(|e| e.to_string())
                            } else {
                                serve_http1(tls, service, limits, watcher).await
                            }
                        }
                        Ok(Err(e)) => Err(format!("TLS handshake: {e}")),
                        Err(_) => Err("TLS handshake not finished in time".into()),
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// One connection with hyper's HTTP/1.1, its header read timeout on.
async fn serve_http1<I>(
    io: I,
    service: hyper_util::service::TowerToHyperService<Router>,
    limits: ConnLimits,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    watcher.watch(conn).await.map_err(|e| e.to_string())
}

/// The route for the start-up banner. 1buy's URL token is a credential:
/// it is filled in only when it is a generated development secret (what a
/// newcomer needs to send samples); a configured one stays `{token}`, so
/// it never lands in the journal of a real install.
fn show_route(p: &dyn Provider, settings: &Settings) -> String {
    let route = p.route();
    // A URL token is printed only when it is a generated development secret.
    if route.contains("{token}")
        && let Some(k) = p.descriptor().settings.first()
        && settings.is_generated(k)
        && let Some(t) = settings.get(k)
    {
        let newest = t.split(',').next().unwrap_or_default().trim().to_owned();
        return route.replace("{token}", &newest);
    }
    route.to_owned()
}

async fn sweep_loop(
    store: Arc<dyn EventStore>,
    publisher: Arc<dyn Publisher>,
    limits: Limits,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = time::OffsetDateTime::now_utc();
        if let Err(e) =
            payhook::pipeline::sweep(&*store, &*publisher, now, every, limits.lease, 500).await
        {
            tracing::warn!(error = %e, "sweep failed");
        }
    }
}

/// A webhook route: its pipeline, and the console's count of refusals.
struct Hook {
    app: App,
    activity: Arc<crate::console::activity::Activity>,
}

impl Hook {
    fn answer(&self, reply: Reply) -> Response {
        if reply.status.is_client_error() {
            let why = reply
                .body
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("");
            self.activity.refused(
                crate::console::activity::Route::Provider(self.app.provider.descriptor().id),
                reply.status,
                why,
                time::OffsetDateTime::now_utc(),
            );
        }
        reply.to_http::<axum::body::Body>().into_response()
    }
}

async fn webhook(
    State(hook): State<Arc<Hook>>,
    method: http::Method,
    headers: http::HeaderMap,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    body: axum::body::Body,
) -> Response {
    // A path parameter that does not decode (e.g. `%FF`) cannot be a
    // configured token or chain: pass none, and verification answers 401.
    let params: HashMap<String, String> = params
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let app = &hook.app;
    let bytes = match axum::body::to_bytes(body, app.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return hook.answer(Reply::error(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "body too large",
            ));
        }
    };
    hook.answer(app.process(&method, &headers, &params, &bytes).await)
}

async fn validate(
    State(v): State<Arc<Validator>>,
    method: http::Method,
    headers: http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, koywe_callback::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Reply::error(http::StatusCode::PAYLOAD_TOO_LARGE, "body too large")
                .to_http::<axum::body::Body>()
                .into_response();
        }
    };
    v.process(&method, &headers, &bytes)
        .await
        .to_http::<axum::body::Body>()
        .into_response()
}

/// The in-flight limit and how bodies are read before it.
struct Shed {
    slots: tokio::sync::Semaphore,
    /// How long a request (its body read) waits for a slot before 503.
    queue: Duration,
    body_timeout: Duration,
    /// The largest body any route accepts (each route applies its own).
    max_body_bytes: usize,
    /// Refusals of webhook requests, for the console.
    activity: Arc<crate::console::activity::Activity>,
}

impl Shed {
    /// Count a refusal made before a webhook route was chosen.
    fn refused(&self, path: &str, status: http::StatusCode, why: &str) {
        if path.starts_with("/webhooks/") {
            self.activity.refused(
                crate::console::activity::Route::Any,
                status,
                why,
                time::OffsetDateTime::now_utc(),
            );
        }
    }
}

/// Load shedding: at most `max_in_flight` requests are inside payhook at
/// once; the rest wait up to `queue` for a slot, then get 503 with
/// `Retry-After: 1`, so overload grows neither memory nor latency without
/// bound and providers retry later.
///
/// The body is read *before* a slot is taken, within `body_timeout` (408
/// after it, 413 over the size limit): a client that trickles its body
/// holds no slot, so slow clients cannot starve honest ones.
async fn shed(
    State(limit): State<Arc<Shed>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, limit.max_body_bytes);
    let bytes = match tokio::time::timeout(limit.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            limit.refused(
                parts.uri.path(),
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "body too large",
            );
            return Reply::error(http::StatusCode::PAYLOAD_TOO_LARGE, "body too large")
                .to_http::<axum::body::Body>()
                .into_response();
        }
        Err(_) => {
            limit.refused(
                parts.uri.path(),
                http::StatusCode::REQUEST_TIMEOUT,
                "body not received in time",
            );
            let mut r = Reply::error(
                http::StatusCode::REQUEST_TIMEOUT,
                "body not received in time",
            )
            .to_http::<axum::body::Body>();
            r.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return r.into_response();
        }
    };
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    // A slot now, else a short wait in line for one (FIFO): under a burst,
    // waiting costs no CPU while a 503 costs a retry's whole request, so
    // goodput holds up; past `queue` the request is shed.
    let permit = match limit.slots.try_acquire() {
        Ok(p) => Some(p),
        Err(_) if limit.queue.is_zero() => None,
        Err(_) => tokio::time::timeout(limit.queue, limit.slots.acquire())
            .await
            .ok()
            .and_then(Result::ok),
    };
    match permit {
        Some(_permit) => next.run(req).await,
        None => {
            limit.refused(
                req.uri().path(),
                http::StatusCode::SERVICE_UNAVAILABLE,
                "overloaded, retry later",
            );
            let mut r = Reply::error(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "overloaded, retry later",
            )
            .to_http::<axum::body::Body>();
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            r.into_response()
        }
    }
}
