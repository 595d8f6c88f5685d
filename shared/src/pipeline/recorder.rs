//! The recording port: how the pipeline turns a verified, normalized event
//! into "recorded exactly once and published" (DESIGN.md steps claim →
//! publish → complete). The pipeline does not know the backend: it calls
//! one [`Recorder`].
//!
//! * [`ClaimThenPublish`], the default: claim in an [`EventStore`], publish
//!   through a [`Publisher`], then complete — three writes, the claim's lease
//!   making a retry safe in between.
//! * The embedded backend (`payhook-embedded`'s `SqliteStore`) implements
//!   it as one SQLite transaction: the claim, the outbox row (its "publish")
//!   and the completion.

use super::{Clock, PublishStage, publish_and_complete};
use crate::event::PaymentEvent;
use crate::publish::Publisher;
use crate::store::{Claim, EventRecord, EventStore, StoreError};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// What recording one delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// New (or taken over from an expired lease): recorded, published and
    /// completed.
    Published,
    /// Already published: nothing done.
    Duplicate,
    /// Recorded by a concurrent delivery still holding the lease; it (or
    /// the sweeper) publishes it.
    InFlight,
    /// Same event id, different payload fingerprint: nothing done.
    Conflict,
}

impl Recorded {
    /// The outcome of a claim that needs no publishing (`None` for
    /// [`Claim::New`] and [`Claim::TakenOver`]).
    pub fn settled(claim: Claim) -> Option<Self> {
        match claim {
            Claim::New | Claim::TakenOver => None,
            Claim::Duplicate => Some(Recorded::Duplicate),
            Claim::InFlight => Some(Recorded::InFlight),
            Claim::Conflict => Some(Recorded::Conflict),
        }
    }
}

/// Why a delivery was not recorded and published.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The claim failed: nothing is recorded.
    #[error("claim failed: {0}")]
    Claim(#[source] StoreError),
    /// Recorded, but not published (logged by the recorder, the lease given
    /// back): a retry or the sweeper publishes it.
    #[error("{}", .0.as_str())]
    Publish(PublishStage),
}

/// Records a delivery exactly once and publishes it.
#[async_trait]
pub trait Recorder: Send + Sync {
    /// Record `rec` (whose `event_json` is `event` serialized) with a lease
    /// from `now` for `lease`, and publish it when it is new. `clock` gives
    /// the completion time of a recorder that completes after publishing.
    async fn record(
        &self,
        rec: &EventRecord,
        event: &PaymentEvent,
        now: OffsetDateTime,
        lease: Duration,
        clock: &dyn Clock,
    ) -> Result<Recorded, RecordError>;
}

/// The default [`Recorder`]: claim → publish → complete.
pub struct ClaimThenPublish {
    pub store: Arc<dyn EventStore>,
    pub publisher: Arc<dyn Publisher>,
}

impl ClaimThenPublish {
    pub fn new(store: Arc<dyn EventStore>, publisher: Arc<dyn Publisher>) -> Self {
        ClaimThenPublish { store, publisher }
    }
}

#[async_trait]
impl Recorder for ClaimThenPublish {
    async fn record(
        &self,
        rec: &EventRecord,
        event: &PaymentEvent,
        now: OffsetDateTime,
        lease: Duration,
        clock: &dyn Clock,
    ) -> Result<Recorded, RecordError> {
        let claim = self
            .store
            .claim(rec, now, lease)
            .await
            .map_err(RecordError::Claim)?;
        if let Some(settled) = Recorded::settled(claim) {
            return Ok(settled);
        }
        publish_and_complete(&*self.store, &*self.publisher, rec, event, clock.now())
            .await
            .map(|()| Recorded::Published)
            .map_err(RecordError::Publish)
    }
}
