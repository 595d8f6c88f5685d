//! The field formatter and clock of `payhook serve`'s log lines: the same
//! bytes as tracing-subscriber's `DefaultFields` and `SystemTime`, written
//! without `core::fmt` for the common cases. The per-webhook line has nine
//! fields; formatted by `DefaultFields` (every `&str` through `{:?}`, every
//! number through `Debug`) and timestamped by `SystemTime` (seven padded
//! integers through `write!`), it was ~6 % of serve's CPU per webhook in
//! `perf` (BENCHMARKS.md §2).
//!
//! Fast paths, taken only when the writer has no ANSI styling:
//! - a `&str` field whose value is printable ASCII without `"` or `\` is
//!   written `name="value"` directly (`{:?}` of such a string adds only the
//!   quotes);
//! - integer and `bool` fields are written `name=value` with `itoa`;
//! - a `Debug` or `Display` value (`?x`, `%x`) is written `name=` then
//!   formatted, without `DefaultVisitor`'s (unstyled) paint calls.
//!
//! Everything else (the `message`, `r#` and `log.` names, other strings,
//! errors, `Debug` values, styled output) goes through a `DefaultVisitor`
//! on the same writer, so the output cannot drift from tracing-subscriber's.
//! The tests format the same events both ways and compare.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::FormatTime;

/// `DefaultFields`, with fast paths for plain strings and integers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields;

impl<'a> MakeVisitor<Writer<'a>> for Fields {
    type Visitor = Visitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Visitor<'a> {
        Visitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// See [`Fields`].
pub struct Visitor<'a> {
    writer: Writer<'a>,
    /// No field written yet (no separating space before the next).
    is_empty: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    /// Whether `field` may take a fast path: plain output and a name that
    /// `DefaultVisitor` writes as it is.
    fn plain(&self, field: &Field) -> bool {
        let name = field.name();
        !self.writer.has_ansi_escapes()
            && name != "message"
            && !name.starts_with("r#")
            && !name.starts_with("log.")
    }

    /// `name=` after the separating space, as `DefaultVisitor` writes it.
    fn start(&mut self, field: &Field) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    /// Write `field` as `name=` then `write`'s output when it may take a
    /// fast path (`plain`, and `fast` for its value), else through
    /// `fallback` on tracing-subscriber's own visitor.
    fn field(
        &mut self,
        field: &Field,
        fast: bool,
        fallback: impl FnOnce(&mut DefaultVisitor<'_>),
        write: impl FnOnce(&mut Writer<'_>) -> fmt::Result,
    ) {
        if self.result.is_err() {
            return;
        }
        if !fast || !self.plain(field) {
            return self.fallback(fallback);
        }
        self.result = self.start(field).and_then(|()| write(&mut self.writer));
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer + fmt::Debug + Copy) {
        self.field(
            field,
            true,
            |v| v.record_debug(field, &value),
            move |w| w.write_str(itoa::Buffer::new().format(value)),
        );
    }

    /// Record through tracing-subscriber's own visitor, on this writer.
    fn fallback(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut v = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut v);
        self.result = v.finish();
        // `DefaultVisitor` has written the field (and its space) unless
        // it skips the name (`log.*`), which leaves the line as it was.
        self.is_empty = false;
    }
}

/// A string `{:?}` writes as itself between quotes.
fn needs_no_escape(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(
            field,
            needs_no_escape(value),
            |v| v.record_str(field, value),
            |w| {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            },
        );
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.integer(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(
            field,
            true,
            |v| v.record_bool(field, value),
            |w| w.write_str(if value { "true" } else { "false" }),
        );
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, false, |v| v.record_f64(field, value), |_| Ok(()));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.field(field, false, |v| v.record_bytes(field, value), |_| Ok(()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, false, |v| v.record_error(field, value), |_| Ok(()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(
            field,
            true,
            |v| v.record_debug(field, value),
            |w| fmt::Write::write_fmt(w, format_args!("{value:?}")),
        );
    }
}

impl VisitOutput<fmt::Result> for Visitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for Visitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// tracing-subscriber's `SystemTime` (`2026-12-03T17:22:28.123456Z`, UTC),
/// with the date and time of day formatted once per second per thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clock;

/// `YYYY-MM-DDTHH:MM:SS` of one second.
struct Second {
    unix: i64,
    text: [u8; 19],
}

thread_local! {
    static SECOND: std::cell::Cell<Option<(i64, [u8; 19])>> = const { std::cell::Cell::new(None) };
}

impl Second {
    /// `None` outside years 0–9999 (the fallback formats those).
    fn of(unix: i64) -> Option<Second> {
        let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
        let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut text = *b"0000-00-00T00:00:00";
        let digits = |out: &mut [u8], mut n: u16| {
            for d in out.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        digits(&mut text[0..4], year);
        digits(&mut text[5..7], u8::from(t.month()).into());
        digits(&mut text[8..10], t.day().into());
        digits(&mut text[11..13], t.hour().into());
        digits(&mut text[14..16], t.minute().into());
        digits(&mut text[17..19], t.second().into());
        Some(Second { unix, text })
    }
}

/// The text of `now`, or `None` when the fallback formats it.
fn format_instant(now: std::time::SystemTime) -> Option<[u8; 27]> {
    let since = now.duration_since(std::time::UNIX_EPOCH).ok()?;
    let unix = i64::try_from(since.as_secs()).ok()?;
    let second = match SECOND.with(std::cell::Cell::get) {
        Some((u, text)) if u == unix => Second { unix, text },
        _ => {
            let s = Second::of(unix)?;
            SECOND.with(|c| c.set(Some((s.unix, s.text))));
            s
        }
    };
    let mut out = [0u8; 27];
    out[..19].copy_from_slice(&second.text);
    out[19] = b'.';
    let mut micros = since.subsec_micros();
    for d in out[20..26].iter_mut().rev() {
        *d = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    out[26] = b'Z';
    Some(out)
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = std::time::SystemTime::now();
        match format_instant(now) {
            // ASCII digits and separators only.
            Some(text) => w.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer \u{1b}[31mred")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    /// Every kind of field, with values that take and miss the fast paths.
    fn emit_all() {
        let plain = "0b1c2d-order_42:paid";
        let tricky = [
            "",
            "with \"quote\"",
            "back\\slash",
            "tab\there",
            "é ünïcode",
            "nl\n",
            "\u{1b}[2J",
        ];
        tracing::info!(
            target: "payhook::webhook",
            provider = %"koywe",
            event_id = plain,
            order_id = "",
            code = 200u16,
            latency_us = 57u64,
            delta = -3i64,
            big = u128::MAX,
            neg = i128::MIN,
            ok = true,
            no = false,
            ratio = 1.5f64,
            r#type = "raw-name",
            "webhook"
        );
        for t in tricky {
            tracing::warn!(value = t, shown = ?t, "message with \"quotes\" {}", t);
            tracing::info!(value = t);
        }
        tracing::error!(
            error = &Outer(Inner) as &(dyn std::error::Error + 'static),
            "failed"
        );
        tracing::info!(bytes = &b"ab\x00\xff"[..], "x");
    }

    fn format_with(ansi: bool, fast: bool) -> String {
        let out = Capture::default();
        let b = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(ansi)
            .with_max_level(tracing::Level::TRACE)
            .without_time()
            .compact();
        if fast {
            tracing::subscriber::with_default(b.fmt_fields(Fields).finish(), emit_all);
        } else {
            tracing::subscriber::with_default(b.finish(), emit_all);
        }
        let bytes = out.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn fields_are_written_as_default_fields_writes_them() {
        for ansi in [false, true] {
            let (ours, theirs) = (format_with(ansi, true), format_with(ansi, false));
            assert!(theirs.lines().count() >= 16, "{theirs}");
            assert_eq!(ours, theirs, "ansi {ansi}");
        }
        // The fast paths were taken on the plain line: no quotes are lost.
        let plain = format_with(false, true);
        assert!(
            plain.contains(
                r#"event_id="0b1c2d-order_42:paid" order_id="" code=200 latency_us=57 delta=-3"#
            ),
            "{plain}"
        );
    }

    #[test]
    fn clock_writes_rfc3339_micros_in_utc() {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let base = std::time::UNIX_EPOCH;
        for secs in [
            0u64,
            59,
            951_782_400,
            1_764_780_148,
            4_102_444_799,
            253_402_300_799,
        ] {
            for micros in [0u32, 1, 999_999, 123_456] {
                let at = base + std::time::Duration::new(secs, micros * 1000 + 999);
                let want = time::OffsetDateTime::from(at)
                    .format(&fmt)
                    .unwrap_or_default();
                let got = format_instant(at).map(|t| String::from_utf8_lossy(&t).into_owned());
                assert_eq!(got.as_deref(), Some(want.as_str()), "{secs}.{micros}");
            }
        }
        // The same second again comes from the cache, the next one does not.
        let at = base + std::time::Duration::new(1_764_780_148, 5_000);
        let next = base + std::time::Duration::new(1_764_780_149, 0);
        assert_eq!(
            format_instant(at).map(|t| t[..19].to_vec()),
            Some(b"2025-12-03T16:42:28".to_vec())
        );
        assert_eq!(
            format_instant(next).map(|t| t[..19].to_vec()),
            Some(b"2025-12-03T16:42:29".to_vec())
        );
        // Past year 9999 the text is tracing-subscriber's (`+10000-…`).
        assert_eq!(
            format_instant(base + std::time::Duration::from_secs(253_402_300_800)),
            None
        );
    }
}
