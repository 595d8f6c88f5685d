//! Where the console reads events and orders: the embedded store's file on
//! a read-only connection of its own (indexed queries, newest first), or,
//! on the memory and AWS backends, the event store port (its listing,
//! filtered and paged here).

use payhook::store::{EventFilter, OrderState, Store, StoreError, StoredEvent};
use payhook::{PaymentEvent, ProviderId};
use payhook_embedded::{EventQuery, EventSummary, Reader};
use std::sync::Arc;

pub enum Source {
    Embedded(Reader),
    Port(Arc<dyn Store>),
}

/// Most events of one order shown on its page (as many as the embedded
/// store lists in the order's row).
pub use payhook_embedded::ORDER_EVENT_IDS as ORDER_EVENTS;

fn summary(e: &StoredEvent) -> Result<EventSummary, StoreError> {
    let ev: PaymentEvent = serde_json::from_str(&e.event_json)
        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.event_id)))?;
    Ok(EventSummary {
        event_id: e.event_id.clone(),
        provider: ev.provider,
        order_id: ev.order_id,
        status: ev.status,
        provider_event: ev.provider_event,
        received_at: e.received_at,
        state: e.state,
        delivery: None,
    })
}

impl Source {
    /// The events matching `q`, newest first, at most `q.limit`.
    pub async fn events(&self, q: &EventQuery) -> Result<Vec<EventSummary>, StoreError> {
        match self {
            Source::Embedded(r) => r.events(q.clone()).await,
            Source::Port(s) => {
                let mut all = self.port_events(s, q).await?;
                all.sort_by(|a, b| (b.received_at, &b.event_id).cmp(&(a.received_at, &a.event_id)));
                Ok(all
                    .into_iter()
                    .filter(|e| {
                        q.before
                            .as_ref()
                            .is_none_or(|(t, id)| (e.received_at, &e.event_id) < (*t, id))
                    })
                    .take(q.limit)
                    .collect())
            }
        }
    }

    async fn port_events(
        &self,
        s: &Arc<dyn Store>,
        q: &EventQuery,
    ) -> Result<Vec<EventSummary>, StoreError> {
        let rows = s
            .list_events(&EventFilter {
                provider: q.provider,
                order_id: q.order_id.clone(),
                status: q.status,
                since: q.since,
                limit: None,
            })
            .await?;
        rows.iter()
            .filter(|e| q.until.is_none_or(|u| e.received_at < u))
            .map(summary)
            .collect()
    }

    /// How many events match `q`, counted up to `cap`.
    pub async fn count(&self, q: &EventQuery, cap: usize) -> Result<usize, StoreError> {
        match self {
            Source::Embedded(r) => r.count_events(q.clone(), cap).await,
            Source::Port(s) => Ok(self.port_events(s, q).await?.len().min(cap)),
        }
    }

    pub async fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        match self {
            Source::Embedded(r) => r.event(id).await,
            Source::Port(s) => s.get_event(id).await,
        }
    }

    pub async fn order(
        &self,
        provider: ProviderId,
        order_id: &str,
    ) -> Result<Option<OrderState>, StoreError> {
        match self {
            Source::Embedded(r) => r.order(provider, order_id).await,
            Source::Port(s) => Ok(s
                .list_orders()
                .await?
                .into_iter()
                .find(|o| o.provider == provider && o.order_id == order_id)),
        }
    }

    /// The order's events, oldest first.
    pub async fn order_events(
        &self,
        provider: ProviderId,
        order_id: &str,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        match self {
            Source::Embedded(r) => r.order_events(provider, order_id).await,
            Source::Port(s) => {
                let mut v = s
                    .list_events(&EventFilter {
                        provider: Some(provider),
                        order_id: Some(order_id.to_owned()),
                        ..EventFilter::default()
                    })
                    .await?;
                v.sort_by(|a, b| (a.received_at, &a.event_id).cmp(&(b.received_at, &b.event_id)));
                v.truncate(ORDER_EVENTS);
                Ok(v)
            }
        }
    }
}
