//! `payhook deliveries`: what forwarding did with each published event
//! (embedded store only), and `--retry-failed` to send the dead letters
//! again.

use crate::CliError;
use crate::serve::Backend;
use payhook_embedded::{Deliveries, DeliveryState, Redrive};
use std::path::Path;
use time::format_description::well_known::Rfc3339;

pub struct DeliveriesArgs {
    pub state: Option<DeliveryState>,
    pub json: bool,
}

async fn open(backend: Backend, data_dir: &Path) -> Result<Deliveries, CliError> {
    if backend != Backend::Embedded {
        return Err(CliError::Usage(
            "forwarding runs on the embedded backend only: there are no deliveries to list".into(),
        ));
    }
    let store = crate::inspect::open_embedded(data_dir)?;
    Ok(Deliveries::open(&store).await?)
}

pub async fn list(backend: Backend, data_dir: &Path, args: DeliveriesArgs) -> Result<(), CliError> {
    let rows = open(backend, data_dir).await?.list(args.state).await?;
    let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    if args.json {
        for d in &rows {
            println!(
                "{}",
                serde_json::json!({
                    "event_id": d.event_id,
                    "provider": d.provider,
                    "order_id": d.order_id,
                    "state": d.state.as_str(),
                    "attempts": d.attempts,
                    "next_attempt_at": (d.state == DeliveryState::Pending).then(|| time(d.next_at)),
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "updated_at": time(d.updated_at),
                })
            );
        }
        return Ok(());
    }
    println!(
        "{:<32}  {:<17}  {:<9}  {:>8}  {:<36}  last",
        "event_id", "provider", "state", "attempts", "order_id"
    );
    for d in &rows {
        let last = match (&d.last_error, d.state) {
            (_, DeliveryState::Delivered) => {
                format!("{} at {}", d.last_status.unwrap_or(0), time(d.updated_at))
            }
            (Some(e), DeliveryState::Pending) => format!("{e}; next at {}", time(d.next_at)),
            (Some(e), _) => e.clone(),
            (None, _) => format!("first attempt at {}", time(d.next_at)),
        };
        println!(
            "{:<32}  {:<17}  {:<9}  {:>8}  {:<36}  {last}",
            d.event_id,
            d.provider,
            d.state.as_str(),
            d.attempts,
            d.order_id
        );
    }
    println!("{} delivery(ies)", rows.len());
    Ok(())
}

/// Make failed deliveries pending again (dry run unless `yes`); a running
/// `payhook serve` sends them within a second.
pub async fn retry_failed(backend: Backend, data_dir: &Path, yes: bool) -> Result<(), CliError> {
    let d = open(backend, data_dir).await?;
    if !yes {
        let failed = d.list(Some(DeliveryState::Failed)).await?;
        for f in &failed {
            println!("would retry {}  {}  {}", f.event_id, f.provider, f.order_id);
        }
        println!(
            "{} failed delivery(ies) would be retried; add --yes to retry them",
            failed.len()
        );
        return Ok(());
    }
    let n = d
        .redrive(Redrive::AllFailed, time::OffsetDateTime::now_utc())
        .await?;
    println!("{n} failed delivery(ies) pending again");
    Ok(())
}
