//! The log writer of `payhook serve`: lines are appended to an in-memory
//! buffer and written to stderr in blocks (when 64 KiB have gathered, every
//! 100 ms, and when the process ends), instead of one `write` system call per
//! webhook on the request path.
//!
//! `tracing-appender`'s non-blocking writer was measured first: it moves the
//! `write` to a thread, but waking that thread for each line cost about as
//! much as the `write` itself on a loaded 2-core machine. Here a line costs a
//! short lock and a copy. The block's `write` happens after the buffer's
//! lock is released (a full buffer is swapped for an empty one), so a slow
//! stderr (a pipe, a terminal, a throttled disk) holds up only the thread
//! that writes the block, never every other request's log line. Lines of the
//! last 100 ms are lost if the process is killed with SIGKILL (the events
//! themselves are on disk before they are answered); a normal exit or Ctrl-C
//! flushes them.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Bytes gathered before a write.
const CAPACITY: usize = 64 * 1024;
/// Room past `CAPACITY` for the line that fills it: the buffer is written
/// once a line has taken it past `CAPACITY`, so without this room that line
/// would grow (copy) the whole buffer first.
const SLACK: usize = 16 * 1024;
/// Longest time a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

struct Shared {
    /// Lines not yet written.
    buf: Mutex<Vec<u8>>,
    /// Where blocks go (stderr), held while a block is written and taken
    /// before `buf` is released: blocks arrive in the order they were
    /// gathered.
    out: Mutex<Box<dyn Write + Send>>,
}

/// A shared, buffered stderr; cheap to clone.
#[derive(Clone)]
pub struct BufferedStderr {
    inner: Arc<Shared>,
}

impl BufferedStderr {
    fn new(out: Box<dyn Write + Send>) -> Self {
        BufferedStderr {
            inner: Arc::new(Shared {
                buf: Mutex::new(Vec::with_capacity(CAPACITY + SLACK)),
                out: Mutex::new(out),
            }),
        }
    }

    /// The buffer, plus a thread that flushes it every 100 ms.
    pub fn start() -> Self {
        let w = Self::new(Box::new(io::stderr()));
        let flusher = w.clone();
        // If the thread cannot start, lines are still written when the
        // buffer fills and at exit.
        let _ = std::thread::Builder::new()
            .name("payhook-log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flusher.flush();
                }
            });
        w
    }

    /// Write out what is buffered.
    pub fn flush(&self) {
        if let Ok(g) = self.inner.buf.lock() {
            write_out(&self.inner, g, 1);
        }
    }
}

/// Swap the buffer for an empty one when it holds at least `min` bytes and
/// write the block with the buffer's lock released.
fn write_out(shared: &Shared, mut buf: MutexGuard<'_, Vec<u8>>, min: usize) {
    if buf.len() < min {
        return;
    }
    let block = std::mem::replace(&mut *buf, Vec::with_capacity(CAPACITY + SLACK));
    // A poisoned `out` (a panic while writing) still orders the writes.
    let mut out = shared.out.lock().unwrap_or_else(|p| p.into_inner());
    drop(buf);
    // Nowhere to report a failed write of the log itself.
    let _ = out.write_all(&block);
}

/// One line's access to the buffer (held while tracing writes the line).
pub struct Line<'a> {
    shared: &'a Shared,
    buf: Option<MutexGuard<'a, Vec<u8>>>,
}

impl Write for Line<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.buf {
            Some(g) => {
                g.extend_from_slice(data);
                Ok(data.len())
            }
            // A poisoned lock (a panic while writing): write unbuffered.
            None => io::stderr().write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.buf.take() {
            write_out(self.shared, g, CAPACITY);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.inner,
            buf: self.inner.buf.lock().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn written(s: &Sink) -> Vec<u8> {
        s.0.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn buffered(w: &BufferedStderr) -> usize {
        w.inner.buf.lock().map(|g| g.len()).unwrap_or(usize::MAX)
    }

    #[test]
    fn lines_are_buffered_until_flushed() {
        let sink = Sink::default();
        let w = BufferedStderr::new(Box::new(sink.clone()));
        let line = b"payhook logbuf test line\n";
        let _ = w.make_writer().write_all(line);
        assert_eq!(buffered(&w), line.len(), "the line waits in the buffer");
        assert!(written(&sink).is_empty());
        w.flush();
        assert_eq!(buffered(&w), 0, "flush writes it out");
        assert_eq!(written(&sink), line);
    }

    #[test]
    fn a_full_buffer_is_written_in_order_when_its_line_ends() {
        let sink = Sink::default();
        let w = BufferedStderr::new(Box::new(sink.clone()));
        let mut lines = Vec::new();
        let mut n = 0;
        while lines.len() < CAPACITY {
            let line = format!("{n:0999}\n");
            lines.extend_from_slice(line.as_bytes());
            let _ = w.make_writer().write_all(line.as_bytes());
            n += 1;
            if lines.len() < CAPACITY {
                assert!(written(&sink).is_empty(), "under 64 KiB the lines wait");
            }
        }
        assert_eq!(buffered(&w), 0, "the line that fills it writes the block");
        assert_eq!(written(&sink), lines, "every line, in order");
        let _ = w.make_writer().write_all(b"next\n");
        w.flush();
        assert!(written(&sink).ends_with(b"next\n"));
    }
}
