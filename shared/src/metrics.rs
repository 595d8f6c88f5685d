//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object
//! per line on stdout, which Lambda ships to CloudWatch Logs and CloudWatch
//! turns into metrics (namespace `payhook`). Written here rather than with
//! `metrics_cloudwatch_embedded` (a backend for the `metrics` facade): that
//! crate puts all of a metric's labels in one dimension set, while each line
//! here also carries the empty set the template's alarms watch (the
//! aggregate), and its one global recorder per process would replace the
//! counters each `App` and `Validator` keeps for itself.
//!
//! Enabled when `PAYHOOK_METRICS=emf`, or by default inside Lambda
//! (`AWS_LAMBDA_FUNCTION_NAME` set); `PAYHOOK_METRICS=off` disables it.
//! Dimensions: `function` and `provider` (rejections add `reason`), plus an
//! aggregate without dimensions for alarms.

use std::io::Write;
use std::sync::OnceLock;

pub const NAMESPACE: &str = "payhook";

/// What a webhook or validation request ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Accepted,
    Duplicate,
    Rejected,
    PublishFailed,
    StoreFailed,
    Conflict,
    /// An authentic body kept as `unknown` because normalize could not map
    /// it (counted besides `accepted`; alarmed in template.yaml).
    Unparsed,
    Swept,
    ValidationAllow,
    ValidationDeny,
    /// `payhook serve` forwarding: an event delivered to the merchant's
    /// endpoint (2xx).
    Forwarded,
    /// A forwarding attempt failed and will be retried.
    ForwardRetried,
    /// A forwarding delivery used every attempt: a dead letter (alarm on it).
    ForwardFailed,
}

impl Count {
    pub const ALL: [Count; 13] = [
        Count::Accepted,
        Count::Duplicate,
        Count::Rejected,
        Count::PublishFailed,
        Count::StoreFailed,
        Count::Conflict,
        Count::Unparsed,
        Count::Swept,
        Count::ValidationAllow,
        Count::ValidationDeny,
        Count::Forwarded,
        Count::ForwardRetried,
        Count::ForwardFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Count::Accepted => "accepted",
            Count::Duplicate => "duplicate",
            Count::Rejected => "rejected",
            Count::PublishFailed => "publish_failures",
            Count::StoreFailed => "store_failures",
            Count::Conflict => "conflicts",
            Count::Unparsed => "unparsed",
            Count::Swept => "swept",
            Count::ValidationAllow => "validation_allow",
            Count::ValidationDeny => "validation_deny",
            Count::Forwarded => "forwarded",
            Count::ForwardRetried => "forward_retries",
            Count::ForwardFailed => "forward_failures",
        }
    }
}

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| match std::env::var("PAYHOOK_METRICS").as_deref() {
        Ok("emf") => true,
        Ok(_) => false,
        Err(_) => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    })
}

fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "payhook-serve".to_owned())
    })
}

/// The EMF line for one observation (exposed for tests).
pub fn emf_line(
    timestamp_ms: i128,
    function: &str,
    provider: &str,
    count: Count,
    value: u64,
    reason: Option<&str>,
    latency_ms: Option<f64>,
) -> String {
    let mut dims = vec!["function", "provider"];
    if reason.is_some() {
        dims.push("reason");
    }
    let mut metrics = vec![serde_json::json!({"Name": count.name(), "Unit": "Count"})];
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // Per function and provider, and one aggregate without
                // dimensions that the template's alarms watch.
                "Dimensions": [dims, []],
                "Metrics": [],
            }]
        },
        "function": function,
        "provider": provider,
        count.name(): value,
    });
    if let Some(r) = reason {
        doc["reason"] = r.into();
    }
    if let Some(l) = latency_ms {
        metrics.push(serde_json::json!({"Name": "latency", "Unit": "Milliseconds"}));
        doc["latency"] = l.into();
    }
    doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] = metrics.into();
    doc.to_string()
}

/// Process-wide totals per [`Count`], kept whether or not EMF is enabled
/// (one relaxed atomic add): what tests and `payhook serve` read.
static TOTALS: [std::sync::atomic::AtomicU64; Count::ALL.len()] =
    [const { std::sync::atomic::AtomicU64::new(0) }; Count::ALL.len()];

/// The process-wide total of `count` so far.
pub fn total(count: Count) -> u64 {
    TOTALS[count as usize].load(std::sync::atomic::Ordering::Relaxed)
}

/// The counts of one component (one [`crate::App`], one validator): what
/// it recorded, observable without the other components of the process
/// (tests running side by side). Every observation also goes to the
/// process-wide [`total`] and the EMF line ([`record`]).
#[derive(Debug, Default)]
pub struct Counters([std::sync::atomic::AtomicU64; Count::ALL.len()]);

impl Counters {
    /// How many `count` this component recorded so far.
    pub fn get(&self, count: Count) -> u64 {
        self.0[count as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Count one observation here, then [`record`] it process-wide.
    pub fn record(
        &self,
        provider: &str,
        count: Count,
        value: u64,
        reason: Option<&str>,
        latency: Option<std::time::Duration>,
    ) {
        self.0[count as usize].fetch_add(value, std::sync::atomic::Ordering::Relaxed);
        record(provider, count, value, reason, latency);
    }
}

/// Record one observation: counted in [`total`], and written as an EMF line
/// when enabled.
pub fn record(
    provider: &str,
    count: Count,
    value: u64,
    reason: Option<&str>,
    latency: Option<std::time::Duration>,
) {
    TOTALS[count as usize].fetch_add(value, std::sync::atomic::Ordering::Relaxed);
    if !enabled() {
        return;
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let line = emf_line(
        now,
        function_name(),
        provider,
        count,
        value,
        reason,
        latency.map(|d| d.as_secs_f64() * 1000.0),
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_their_own_and_feed_the_totals() {
        let (a, b) = (Counters::default(), Counters::default());
        let before = total(Count::Conflict);
        a.record("koywe", Count::Conflict, 2, None, None);
        b.record("koywe", Count::Swept, 1, None, None);
        assert_eq!(a.get(Count::Conflict), 2);
        assert_eq!(a.get(Count::Swept), 0);
        assert_eq!(b.get(Count::Conflict), 0);
        assert!(total(Count::Conflict) >= before + 2);
    }

    #[test]
    fn emf_line_declares_its_metrics_and_dimensions() {
        let l = emf_line(
            1_700_000_000_000,
            "koywe-fn",
            "koywe",
            Count::Rejected,
            1,
            Some("bad_signature"),
            Some(1.5),
        );
        let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "payhook");
        assert_eq!(
            cw["Dimensions"][0],
            serde_json::json!(["function", "provider", "reason"])
        );
        assert_eq!(cw["Dimensions"][1], serde_json::json!([]));
        assert_eq!(cw["Metrics"][0]["Name"], "rejected");
        assert_eq!(cw["Metrics"][1]["Name"], "latency");
        assert_eq!(v["rejected"], 1);
        assert_eq!(v["reason"], "bad_signature");
        assert_eq!(v["latency"], 1.5);
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
