//! The log writer of `payhook serve`: lines are appended to an in-memory
//! buffer and written to stderr in blocks (when 64 KiB have gathered, every
//! 100 ms, and when the process ends), instead of one `write` system call per
//! webhook on the request path.
//!
//! `tracing-appender`'s non-blocking writer was measured first: it moves the
//! `write` to a thread, but waking that thread for each line cost about as
//! much as the `write` itself on a loaded 2-core machine. Here a line costs a
//! short lock and a copy. Lines of the last 100 ms are lost if the process is
//! killed with SIGKILL (the events themselves are on disk before they are
//! answered); a normal exit or Ctrl-C flushes them.

use std::io::{self, BufWriter, Stderr, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Bytes gathered before a write.
const CAPACITY: usize = 64 * 1024;
/// Longest time a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A shared, buffered stderr; cheap to clone.
#[derive(Clone)]
pub struct BufferedStderr {
    inner: Arc<Mutex<BufWriter<Stderr>>>,
}

impl BufferedStderr {
    /// The buffer, plus a thread that flushes it every 100 ms.
    pub fn start() -> Self {
        let w = BufferedStderr {
            inner: Arc::new(Mutex::new(BufWriter::with_capacity(CAPACITY, io::stderr()))),
        };
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
        if let Ok(mut g) = self.inner.lock() {
            let _ = g.flush();
        }
    }
}

/// One line's access to the buffer (held while tracing writes the line).
pub struct Line<'a>(Option<MutexGuard<'a, BufWriter<Stderr>>>);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(g) => g.write(buf),
            // A poisoned lock (a panic while writing): write unbuffered.
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self.inner.lock().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn lines_are_buffered_until_flushed() {
        let w = BufferedStderr {
            inner: Arc::new(Mutex::new(BufWriter::with_capacity(CAPACITY, io::stderr()))),
        };
        let line = b"payhook logbuf test line\n";
        let _ = w.make_writer().write_all(line);
        let buffered = w.inner.lock().map(|g| g.buffer().len()).unwrap_or(0);
        assert_eq!(buffered, line.len(), "the line waits in the buffer");
        w.flush();
        let buffered = w.inner.lock().map(|g| g.buffer().len()).unwrap_or(1);
        assert_eq!(buffered, 0, "flush writes it out");
    }
}
