//! The `log` output: one JSON record per line on standard error, or on any writer.

use super::Sink;
use std::io::{self, Write};

/// Writes each record line with a single `write_all` on its writer.
///
/// ```
/// use flamewatch::output::{LogSink, Sink};
/// let mut sink = LogSink::new(Vec::new());
/// sink.write_line(b"{\"name\":\"a\"}\n").unwrap();
/// assert_eq!(sink.get_ref().as_slice(), b"{\"name\":\"a\"}\n");
/// ```
#[derive(Debug)]
pub struct LogSink<W: Write + Send = Stderr> {
    writer: W,
}

/// Standard error, locked for the duration of each line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().lock().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        io::stderr().lock().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().lock().flush()
    }
}

impl LogSink<Stderr> {
    /// A sink writing to the process's standard error.
    pub fn stderr() -> Self {
        LogSink { writer: Stderr }
    }
}

impl<W: Write + Send> LogSink<W> {
    /// A sink writing to `writer` (tests, or a logging pipe).
    pub fn new(writer: W) -> Self {
        LogSink { writer }
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<W: Write + Send> Sink for LogSink<W> {
    fn kind(&self) -> &'static str {
        "log"
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.writer.write_all(line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}
