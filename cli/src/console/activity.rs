//! Requests refused since `payhook serve` started, counted by minute and by
//! route and reason, for the console's "Rejected" page. Nothing of the
//! request itself is kept (no body, header or address): only the route's
//! provider, the status and payhook's own reason text.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Minutes kept (a day).
const MINUTES: usize = 24 * 60;
/// Distinct (route, status, reason) totals kept; past it they count under
/// "other reasons" (payhook's reasons are a fixed set, but bounded anyway).
const MAX_KEYS: usize = 512;

/// Where a refused request was sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    Provider(payhook::ProviderId),
    /// Refused before a route was chosen (body too large or too slow,
    /// overload).
    Any,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Provider(p) => f.write_str(p.as_str()),
            Route::Any => f.write_str("(any webhook route)"),
        }
    }
}

/// One minute's counts by status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minute {
    /// Unix time of the minute's start.
    pub start: i64,
    pub by_status: BTreeMap<u16, u64>,
}

#[derive(Debug, Default)]
struct Inner {
    minutes: VecDeque<Minute>,
    totals: BTreeMap<(Route, u16, String), u64>,
}

/// The counts (shared by every webhook route and the console).
#[derive(Debug)]
pub struct Activity {
    pub started: OffsetDateTime,
    inner: Mutex<Inner>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            started: OffsetDateTime::now_utc(),
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl Activity {
    /// Count one refused request.
    pub fn refused(
        &self,
        route: Route,
        status: http::StatusCode,
        reason: &str,
        at: OffsetDateTime,
    ) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let start = at.unix_timestamp() - at.unix_timestamp().rem_euclid(60);
        if g.minutes.back().is_none_or(|m| m.start != start) {
            g.minutes.push_back(Minute {
                start,
                by_status: BTreeMap::new(),
            });
            while g.minutes.len() > MINUTES {
                g.minutes.pop_front();
            }
        }
        if let Some(m) = g.minutes.back_mut() {
            *m.by_status.entry(status.as_u16()).or_default() += 1;
        }
        let mut key = (route, status.as_u16(), reason.to_owned());
        if !g.totals.contains_key(&key) && g.totals.len() >= MAX_KEYS {
            key.2 = "(other reasons)".into();
        }
        *g.totals.entry(key).or_default() += 1;
    }

    /// The minutes with refusals, newest first, at most `n`.
    pub fn minutes(&self, n: usize) -> Vec<Minute> {
        self.inner
            .lock()
            .map(|g| g.minutes.iter().rev().take(n).cloned().collect())
            .unwrap_or_default()
    }

    /// Totals since start: (route, status, reason, count), most first.
    pub fn totals(&self) -> Vec<(Route, u16, String, u64)> {
        let mut v: Vec<_> = self
            .inner
            .lock()
            .map(|g| {
                g.totals
                    .iter()
                    .map(|((r, s, why), n)| (r.clone(), *s, why.clone(), *n))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_minute_and_reason() {
        let a = Activity::default();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let koywe = payhook::ProviderId::parse("koywe").unwrap();
        let bad = http::StatusCode::UNAUTHORIZED;
        a.refused(Route::Provider(koywe), bad, "bad signature", t0);
        a.refused(
            Route::Provider(koywe),
            bad,
            "bad signature",
            t0 + time::Duration::seconds(10),
        );
        a.refused(
            Route::Any,
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            t0 + time::Duration::seconds(70),
        );
        let m = a.minutes(10);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].by_status.get(&413), Some(&1));
        assert_eq!(m[1].by_status.get(&401), Some(&2));
        let t = a.totals();
        assert_eq!(
            t[0],
            (Route::Provider(koywe), 401, "bad signature".to_owned(), 2)
        );
        assert_eq!(t[1].3, 1);
    }

    #[test]
    fn reasons_are_bounded() {
        let a = Activity::default();
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for i in 0..(MAX_KEYS + 50) {
            a.refused(
                Route::Any,
                http::StatusCode::BAD_REQUEST,
                &format!("r{i}"),
                t0,
            );
        }
        let t = a.totals();
        assert_eq!(t.len(), MAX_KEYS + 1);
        assert_eq!(t[0], (Route::Any, 400, "(other reasons)".to_owned(), 50));
    }
}
