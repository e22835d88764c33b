//! The `file` output: JSON lines appended to a file, rotated by size.
//!
//! The active file is `path`; when writing the next line would take it past `max_bytes`, it is
//! renamed to `path.1` (after `path.1` became `path.2`, and so on up to `path.<max_files>`,
//! the oldest being replaced) and a fresh `path` is opened. The line is then written to the
//! fresh file, so rotation never loses a record. Each line is written with one `write_all` on a
//! file opened in append mode, so lines are never torn or interleaved; if a write fails half
//! way (disk full), the next line starts with a newline so the partial one stays on its own.
//! A file left without a final newline by a crash gets the same treatment when reopened.

use super::{OutputError, Sink};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A JSONL file rotated by size.
///
/// ```
/// use flamewatch::output::{RotatingFile, Sink};
/// let dir = std::env::temp_dir().join(format!("fw-doc-rot-{}", std::process::id()));
/// let _ = std::fs::remove_dir_all(&dir);
/// let mut f = RotatingFile::open(dir.join("p.jsonl"), 4096, 2).unwrap();
/// let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(3000));
/// f.write_line(line.as_bytes()).unwrap();
/// f.write_line(line.as_bytes()).unwrap(); // rotates: p.jsonl -> p.jsonl.1
/// assert_eq!(f.rotations(), 1);
/// assert!(dir.join("p.jsonl.1").exists());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: Option<File>,
    size: u64,
    needs_newline: bool,
    rotations: u64,
    rotation_errors: u64,
    grace: u64,
    scratch: Vec<u8>,
}

impl RotatingFile {
    /// Opens (creating it and its directory if needed) the JSONL file at `path`, rotated at
    /// `max_bytes` with `max_files` rotated files kept (at least one is kept).
    pub fn open(
        path: impl Into<PathBuf>,
        max_bytes: u64,
        max_files: u32,
    ) -> Result<Self, OutputError> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OutputError::Open {
                path: path.clone(),
                source,
            })?;
        }
        let (file, size, needs_newline) =
            open_append(&path).map_err(|source| OutputError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(RotatingFile {
            path,
            max_bytes: max_bytes.max(1),
            max_files: max_files.max(1),
            file: Some(file),
            size,
            needs_newline,
            rotations: 0,
            rotation_errors: 0,
            grace: 0,
            scratch: Vec::new(),
        })
    }

    /// The active file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `n`-th rotated file (`path.n`, 1 = most recent).
    pub fn rotated_path(&self, n: u32) -> PathBuf {
        let mut os = self.path.clone().into_os_string();
        os.push(format!(".{n}"));
        PathBuf::from(os)
    }

    /// Rotations performed since opening.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Rotations that failed (the line was then appended to the current file).
    pub fn rotation_errors(&self) -> u64 {
        self.rotation_errors
    }

    /// Bytes in the active file, as far as this writer knows.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn rotate(&mut self) -> io::Result<()> {
        // Close before renaming so nothing more lands in the file being moved.
        self.file = None;
        for n in (1..self.max_files).rev() {
            match std::fs::rename(self.rotated_path(n), self.rotated_path(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated_path(1))?;
        self.rotations += 1;
        Ok(())
    }

    fn ensure_open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let (file, size, needs_newline) = open_append(&self.path)?;
            self.size = size;
            self.needs_newline = needs_newline;
            self.file = Some(file);
        }
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("output file is not open"))
    }
}

/// Opens `path` for appending; returns the file, its size, and whether its last byte is not a
/// newline (a torn line left by an earlier crash).
fn open_append(path: &Path) -> io::Result<(File, u64, bool)> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let size = file.metadata()?.len();
    let mut needs_newline = false;
    if size > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(size - 1))?;
        file.read_exact(&mut last)?;
        needs_newline = last[0] != b'\n';
    }
    Ok((file, size, needs_newline))
}

impl Sink for RotatingFile {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let total = line.len() as u64 + u64::from(self.needs_newline);
        if self.size > 0 && self.size + total > self.max_bytes.saturating_add(self.grace) {
            let size_before = self.size;
            if let Err(e) = self.rotate() {
                self.rotation_errors += 1;
                // Keep appending to the current file; try again after another `max_bytes`.
                self.grace = size_before;
                eprintln!(
                    "flamewatch: cannot rotate {}: {e}; appending to the current file",
                    self.path.display()
                );
            } else {
                self.size = 0;
                self.grace = 0;
            }
        }
        self.ensure_open()?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let data: &[u8] = if self.needs_newline || !line.ends_with(b"\n") {
            if self.needs_newline {
                buf.push(b'\n');
            }
            buf.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                buf.push(b'\n');
            }
            &buf
        } else {
            line
        };
        let written = data.len() as u64;
        let result = match self.file.as_mut() {
            Some(f) => f.write_all(data),
            None => Err(io::Error::other("output file is not open")),
        };
        self.scratch = buf;
        match result {
            Ok(()) => {
                self.size += written;
                self.needs_newline = false;
                Ok(())
            }
            Err(e) => {
                // Part of the line may be on disk: drop the handle so the next write reopens
                // the file (it may have been removed or replaced) and, if the last byte is not
                // a newline, starts on a fresh line.
                self.file = None;
                Err(e)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}
