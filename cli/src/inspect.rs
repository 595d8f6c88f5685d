//! `payhook events` and `payhook orders`.

use crate::CliError;
use crate::serve::Backend;
use payhook::store::{EventFilter, EventState, EventStore};
use payhook::{ProviderId, Status};
use payhook_embedded::SqliteStore;
use payhook_embedded::{OutboxFilter, SqliteOutbox};
use std::path::Path;

pub struct EventQuery {
    pub provider: Option<ProviderId>,
    pub order_id: Option<String>,
    pub status: Option<Status>,
    pub since: Option<time::OffsetDateTime>,
    pub json: bool,
}

/// `payhook events --follow`: the matching published events, then each new
/// one as it is published, one JSON line each (the exact published JSON),
/// until interrupted. Embedded store only (with AWS, read the queue).
pub async fn follow(backend: Backend, data_dir: &Path, q: EventQuery) -> Result<(), CliError> {
    if backend != Backend::Embedded {
        return Err(CliError::Usage(
            "--follow reads the embedded store's outbox; with --backend aws, consume the SQS queue"
                .into(),
        ));
    }
    use std::io::Write as _;
    let store = open_embedded(data_dir)?;
    let outbox = SqliteOutbox::new(&store);
    let mut filter = OutboxFilter {
        provider: q.provider.map(|p| p.as_str().to_owned()),
        order_id: q.order_id.clone(),
        status: q.status.map(|s| s.as_str().to_owned()),
        since: q.since,
        after_seq: None,
    };
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        for row in outbox.list(&filter).await? {
            filter.after_seq = Some(row.seq);
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) ends the command quietly.
            if writeln!(out, "{}", row.body)
                .and_then(|_| out.flush())
                .is_err()
            {
                return Ok(());
            }
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
        }
    }
}

pub(crate) fn open_embedded(data_dir: &Path) -> Result<SqliteStore, CliError> {
    let db = data_dir.join("payhook.db");
    if !db.exists() {
        return Err(CliError::Usage(format!(
            "no embedded store at {} (run `payhook serve` first, or pass --data-dir)",
            db.display()
        )));
    }
    Ok(SqliteStore::open(&db)?)
}

/// Published event bodies matching `q`.
async fn published(
    backend: Backend,
    data_dir: &Path,
    q: &EventQuery,
) -> Result<Vec<String>, CliError> {
    match backend {
        Backend::Embedded => {
            let store = open_embedded(data_dir)?;
            let outbox = SqliteOutbox::new(&store);
            let rows = outbox
                .list(&OutboxFilter {
                    provider: q.provider.map(|p| p.as_str().to_owned()),
                    order_id: q.order_id.clone(),
                    status: q.status.map(|s| s.as_str().to_owned()),
                    since: q.since,
                    after_seq: None,
                })
                .await?;
            Ok(rows.into_iter().map(|r| r.body).collect())
        }
        Backend::Memory => Err(memory_backend()),
        Backend::Aws => {
            let cfg = crate::settings::Settings::load(data_dir)?.config()?;
            let (store, _) = crate::serve::backend(backend, data_dir, &cfg).await?;
            let store: std::sync::Arc<dyn EventStore> = store;
            let rows = store
                .list_events(&EventFilter {
                    provider: q.provider,
                    order_id: q.order_id.clone(),
                    status: q.status,
                    since: q.since,
                    limit: None,
                })
                .await?;
            Ok(rows
                .into_iter()
                .filter(|r| r.state == EventState::Published)
                .map(|r| r.event_json)
                .collect())
        }
    }
}

fn memory_backend() -> CliError {
    CliError::Usage(
        "the memory backend lives inside `payhook serve`: there is nothing to inspect".into(),
    )
}

pub async fn events(backend: Backend, data_dir: &Path, q: EventQuery) -> Result<(), CliError> {
    let bodies = published(backend, data_dir, &q).await?;
    if q.json {
        for b in bodies {
            println!("{b}");
        }
        return Ok(());
    }
    println!(
        "{:<32}  {:<17}  {:<10}  {:<36}  {:<24}  received_at",
        "event_id", "provider", "status", "order_id", "provider_event"
    );
    for b in &bodies {
        let Ok(e) = serde_json::from_str::<payhook::PaymentEvent>(b) else {
            println!(
                "(unreadable event) {}",
                b.chars().take(60).collect::<String>()
            );
            continue;
        };
        let received = e
            .received_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        println!(
            "{:<32}  {:<17}  {:<10}  {:<36}  {:<24}  {received}",
            e.event_id,
            e.provider.as_str(),
            e.status.as_str(),
            e.order_id,
            e.provider_event
        );
    }
    println!("{} event(s)", bodies.len());
    Ok(())
}

pub async fn orders(backend: Backend, data_dir: &Path, json: bool) -> Result<(), CliError> {
    let orders = match backend {
        Backend::Embedded => open_embedded(data_dir)?.list_orders().await?,
        Backend::Memory => return Err(memory_backend()),
        Backend::Aws => {
            let cfg = crate::settings::Settings::load(data_dir)?.config()?;
            let (store, _) = crate::serve::backend(backend, data_dir, &cfg).await?;
            let store: std::sync::Arc<dyn EventStore> = store;
            store.list_orders().await?
        }
    };
    if json {
        for o in &orders {
            println!("{}", serde_json::to_string(o).unwrap_or_default());
        }
        return Ok(());
    }
    println!(
        "{:<17}  {:<36}  {:<10}  {:>6}  last_event_id",
        "provider", "order_id", "status", "events"
    );
    for o in &orders {
        println!(
            "{:<17}  {:<36}  {:<10}  {:>6}  {}",
            o.provider.as_str(),
            o.order_id,
            o.status.as_str(),
            o.event_count,
            o.last_event_id
        );
    }
    println!("{} order(s)", orders.len());
    Ok(())
}

/// The users store of the configured backend (the embedded one is created
/// if missing, so users can be added before the first `serve`).
async fn users_store(
    backend: Backend,
    data_dir: &Path,
) -> Result<std::sync::Arc<dyn payhook::store::Store>, CliError> {
    if backend == Backend::Memory {
        return Err(memory_backend());
    }
    let cfg = crate::settings::Settings::load(data_dir)?.config()?;
    let (store, _) = crate::serve::backend(backend, data_dir, &cfg).await?;
    Ok(store)
}

fn email_arg(email: &str) -> Result<String, CliError> {
    payhook::users::normalize_email(email)
        .ok_or_else(|| CliError::Usage(format!("{email:?} is not an email address")))
}

pub async fn set_user(
    backend: Backend,
    data_dir: &Path,
    email: &str,
    decision: payhook::users::Decision,
    reason: Option<String>,
) -> Result<(), CliError> {
    let email = email_arg(email)?;
    let store = users_store(backend, data_dir).await?;
    let rec = payhook::koywe_callback::set_user(&*store, &email, decision, reason).await?;
    let at = rec
        .updated_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    println!("{} {} (at {at})", rec.decision.as_str(), rec.email);
    Ok(())
}

pub async fn remove_user(backend: Backend, data_dir: &Path, email: &str) -> Result<(), CliError> {
    let email = email_arg(email)?;
    let store = users_store(backend, data_dir).await?;
    if store.remove_user(&email).await? {
        println!("removed {email}");
        Ok(())
    } else {
        Err(CliError::Usage(format!("no user {email}")))
    }
}

pub async fn list_users(backend: Backend, data_dir: &Path, json: bool) -> Result<(), CliError> {
    let store = users_store(backend, data_dir).await?;
    let users = store.list_users().await?;
    for u in &users {
        if json {
            println!("{}", serde_json::to_string(u).unwrap_or_default());
        } else {
            let at = u
                .updated_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            println!(
                "{:<6}  {:<40}  {at}  {}",
                u.decision.as_str(),
                u.email,
                u.reason.as_deref().unwrap_or("")
            );
        }
    }
    if !json {
        println!("{} user(s)", users.len());
    }
    Ok(())
}
