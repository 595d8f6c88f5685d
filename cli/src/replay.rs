//! `payhook replay`: publish recorded events again, same `event_id`
//! (consumers and FIFO queues treat the copy as the same event). Dry run
//! unless `--yes`.

use crate::CliError;
use crate::serve::Backend;
use payhook::store::{EventFilter, EventState, StoredEvent};
use payhook::{PaymentEvent, ProviderId};
use std::path::Path;

pub struct ReplayArgs {
    pub event_ids: Vec<String>,
    pub since: Option<time::OffsetDateTime>,
    pub provider: Option<ProviderId>,
    pub yes: bool,
    pub json: bool,
}

pub async fn run(backend: Backend, data_dir: &Path, args: ReplayArgs) -> Result<(), CliError> {
    if args.event_ids.is_empty() == args.since.is_none() {
        return Err(CliError::Usage(
            "give either EVENT_ID… or --since TIME (with an optional --provider)".into(),
        ));
    }
    if backend == Backend::Memory {
        return Err(CliError::Usage(
            "the memory backend has nothing to replay".into(),
        ));
    }
    let cfg = crate::settings::Settings::load(data_dir)?.config()?;
    let (store, publisher) = crate::serve::backend(backend, data_dir, &cfg).await?;
    let mut selected: Vec<StoredEvent> = Vec::new();
    if args.event_ids.is_empty() {
        selected = store
            .list_events(&EventFilter {
                provider: args.provider,
                since: args.since,
                ..EventFilter::default()
            })
            .await?;
    } else {
        for id in &args.event_ids {
            match store.get_event(id).await? {
                Some(e) => selected.push(e),
                None => return Err(CliError::Usage(format!("no event {id}"))),
            }
        }
    }
    // Events still `recorded` are the sweeper's: replay only published ones.
    let (published, pending): (Vec<_>, Vec<_>) = selected
        .into_iter()
        .partition(|e| e.state == EventState::Published);
    for e in &pending {
        eprintln!(
            "skip {} (recorded, not yet published: the sweeper publishes it)",
            e.event_id
        );
    }
    let mut done = 0usize;
    for e in &published {
        let event: PaymentEvent = serde_json::from_str(&e.event_json)
            .map_err(|err| CliError::Usage(format!("event {} is unreadable: {err}", e.event_id)))?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"event_id": e.event_id, "provider": event.provider, "status": event.status, "replayed": args.yes})
            );
        } else {
            println!(
                "{} {}  {}  {}  {}",
                if args.yes { "replay" } else { "would replay" },
                e.event_id,
                event.provider,
                event.status,
                event.order_id
            );
        }
        if args.yes {
            publisher
                .replay(&event, &e.event_json)
                .await
                .map_err(|err| CliError::Http(format!("replay of {} failed: {err}", e.event_id)))?;
            done += 1;
        }
    }
    if !args.json {
        if args.yes {
            println!("{done} event(s) replayed");
        } else {
            println!(
                "{} event(s) would be replayed; add --yes to replay them",
                published.len()
            );
        }
    }
    Ok(())
}
