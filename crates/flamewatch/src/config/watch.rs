//! Hot reload: a lock-free handle on the current configuration and a polling file watcher.
//!
//! Readers call [`ConfigHandle::load`], an `ArcSwap` load that takes no lock and is cheap
//! enough for the hot path (a `RwLock` or a reload layer there is a known multi-x slowdown).
//! The watcher is a plain background thread that stats the file every
//! [`WatchOptions::interval`] (500 ms by default) and compares length, modification time, inode
//! and device: this works on every filesystem (network mounts, container volumes, symlink swaps
//! of Kubernetes config maps) without an inotify dependency. A change is read once the file has
//! stayed the same for one more interval, so a file being rewritten in place is not read half
//! written. It then re-runs the whole
//! [`ConfigBuilder`] recipe, validates, and publishes the new `Arc<Config>`; an invalid file keeps
//! the last good configuration, increments [`ConfigHandle::reload_errors`], and is reported once
//! per change on standard error. The thread stops when the last handle is dropped.

use super::builder::{ConfigBuilder, read_file};
use super::{Config, ConfigError};
use arc_swap::{ArcSwap, Guard};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How the watcher polls.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Time between two checks of the file. Default 500 ms; a change is applied within two
    /// intervals (it must look the same on two consecutive checks).
    pub interval: Duration,
    /// Print one line on standard error for each change that could not be applied. Default
    /// `true`.
    pub log_errors: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            interval: Duration::from_millis(500),
            log_errors: true,
        }
    }
}

impl WatchOptions {
    /// Options polling every `interval`.
    pub fn every(interval: Duration) -> Self {
        WatchOptions {
            interval,
            ..WatchOptions::default()
        }
    }

    /// Sets whether failed reloads are printed on standard error.
    pub fn log_errors(mut self, on: bool) -> Self {
        self.log_errors = on;
        self
    }
}

type Listener = Arc<dyn Fn(&Arc<Config>) + Send + Sync>;

/// Shared, lock-free access to the current configuration, optionally kept up to date with its
/// file. Cloning is cheap; the watcher thread stops when the last clone is dropped.
///
/// ```
/// use flamewatch::config::{Config, ConfigHandle};
/// let handle = ConfigHandle::new(Config::default());
/// assert!(!handle.load().enabled);
/// let seen = handle.generation();
/// handle.replace(Config::builder().enabled(true).build().unwrap()).unwrap();
/// assert!(handle.load().enabled);
/// assert_eq!(handle.generation(), seen + 1);
/// ```
#[derive(Clone)]
pub struct ConfigHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConfigHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("generation", &self.generation())
            .field("reload_errors", &self.reload_errors())
            .field("watching", &self.is_watching())
            .finish()
    }
}

struct Shared {
    current: ArcSwap<Config>,
    generation: AtomicU64,
    reload_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    listeners: Mutex<Vec<Listener>>,
    reloader: Option<Reloader>,
    stop: Arc<StopSignal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Reloader {
    builder: ConfigBuilder,
    options: WatchOptions,
    state: Mutex<ReloadState>,
}

#[derive(Default)]
struct ReloadState {
    /// The version of the file last read.
    fingerprint: Option<Fingerprint>,
    /// A new version seen on the previous poll, read once it stays the same for one interval.
    pending: Option<Fingerprint>,
    good_text: Option<String>,
}

#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// What identifies a version of the file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fingerprint {
    Present {
        len: u64,
        modified: Option<SystemTime>,
        inode: u64,
        device: u64,
    },
    Unreadable(io::ErrorKind),
}

fn fingerprint(path: &Path) -> Fingerprint {
    match std::fs::metadata(path) {
        Ok(meta) => {
            #[cfg(unix)]
            let (inode, device) = {
                use std::os::unix::fs::MetadataExt;
                (meta.ino(), meta.dev())
            };
            #[cfg(not(unix))]
            let (inode, device) = (0, 0);
            Fingerprint::Present {
                len: meta.len(),
                modified: meta.modified().ok(),
                inode,
                device,
            }
        }
        Err(e) => Fingerprint::Unreadable(e.kind()),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ConfigHandle {
    /// A handle on a fixed configuration (no file watching). It changes only through
    /// [`ConfigHandle::replace`].
    pub fn new(config: Config) -> Self {
        ConfigHandle {
            shared: Arc::new(Shared::new(config, None)),
        }
    }

    /// Builds the configuration from `builder` and, when it reads a file, starts the polling
    /// watcher. Fails if the initial configuration is invalid.
    pub fn watch(builder: ConfigBuilder, options: WatchOptions) -> Result<Self, ConfigError> {
        let path = builder.file_path().map(Path::to_path_buf);
        let Some(path) = path else {
            return Ok(ConfigHandle::new(builder.build()?));
        };
        let before = fingerprint(&path);
        let text = read_file(&path)?;
        let config = builder.build_with_text(Some(&text))?;
        let interval = options.interval.max(Duration::from_millis(1));
        let reloader = Reloader {
            builder,
            options,
            state: Mutex::new(ReloadState {
                fingerprint: Some(before),
                pending: None,
                good_text: Some(text),
            }),
        };
        let shared = Arc::new(Shared::new(config, Some(reloader)));
        let weak = Arc::downgrade(&shared);
        let stop = Arc::clone(&shared.stop);
        let thread = std::thread::Builder::new()
            .name("flamewatch-config".to_owned())
            .spawn(move || watch_loop(weak, stop, interval))
            .map_err(|source| ConfigError::Watcher { source })?;
        *lock(&shared.thread) = Some(thread);
        Ok(ConfigHandle { shared })
    }

    /// The current configuration; lock-free and wait-free for readers.
    pub fn load(&self) -> Guard<Arc<Config>> {
        self.shared.current.load()
    }

    /// The current configuration as an owned `Arc`, to keep across a long operation.
    pub fn get(&self) -> Arc<Config> {
        self.shared.current.load_full()
    }

    /// Incremented each time a different configuration is published; compare with a value
    /// seen earlier to notice a change without comparing configurations.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Number of reloads rejected because the new file was unreadable or invalid.
    pub fn reload_errors(&self) -> u64 {
        self.shared.reload_errors.load(Ordering::Relaxed)
    }

    /// The message of the last rejected reload, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.shared.last_error).clone()
    }

    /// Self-metrics as Prometheus families: `flamewatch_config_changes_total` (configurations
    /// published) and `flamewatch_config_reload_errors_total` (reloads rejected).
    pub fn metric_families(&self) -> Vec<crate::output::prometheus::MetricFamily> {
        use crate::output::prometheus::MetricFamily;
        vec![
            MetricFamily::counter(
                "flamewatch_config_changes_total",
                "Configurations published after the initial one.",
            )
            .with_value(&[], self.generation() as f64),
            MetricFamily::counter(
                "flamewatch_config_reload_errors_total",
                "Configuration reloads rejected because the file was unreadable or invalid.",
            )
            .with_value(&[], self.reload_errors() as f64),
        ]
    }

    /// Whether a watcher thread keeps this handle up to date with a file.
    pub fn is_watching(&self) -> bool {
        self.shared.reloader.is_some()
    }

    /// Calls `listener` with every newly published configuration, on the thread that publishes
    /// it (the watcher thread for file changes). A panicking listener is contained and does not
    /// stop later notifications. A listener must not call [`ConfigHandle::reload_now`], which
    /// would wait for the reload that is notifying it.
    pub fn on_change(&self, listener: impl Fn(&Arc<Config>) + Send + Sync + 'static) {
        lock(&self.shared.listeners).push(Arc::new(listener));
    }

    /// Validates and publishes `config` (for example a sample rate changed through the
    /// management API). A later change of the watched file replaces it.
    pub fn replace(&self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.shared.publish(config);
        Ok(())
    }

    /// Re-reads the watched file now, whether or not it looks changed. Returns whether a
    /// different configuration was published; an invalid file is reported (and counted) like
    /// a failed automatic reload and the current configuration is kept.
    pub fn reload_now(&self) -> Result<bool, ConfigError> {
        let Some(reloader) = &self.shared.reloader else {
            return Ok(false);
        };
        let mut state = lock(&reloader.state);
        if let Some(path) = reloader.builder.file_path() {
            state.fingerprint = Some(fingerprint(path));
            state.pending = None;
        }
        self.shared.reload(reloader, &mut state, true)
    }
}

impl Shared {
    fn new(config: Config, reloader: Option<Reloader>) -> Self {
        Shared {
            current: ArcSwap::from_pointee(config),
            generation: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
            reloader,
            stop: Arc::new(StopSignal::default()),
            thread: Mutex::new(None),
        }
    }

    /// Publishes `config` if it differs from the current one; returns whether it did.
    fn publish(&self, config: Config) -> bool {
        if **self.current.load() == config {
            return false;
        }
        let config = Arc::new(config);
        self.current.store(Arc::clone(&config));
        self.generation.fetch_add(1, Ordering::AcqRel);
        let listeners: Vec<Listener> = lock(&self.listeners).clone();
        for listener in listeners {
            let _ = catch_unwind(AssertUnwindSafe(|| listener(&config)));
        }
        true
    }

    /// One poll of the watcher: reload when the file's fingerprint changed.
    fn poll(&self) {
        let Some(reloader) = &self.reloader else {
            return;
        };
        let Some(path) = reloader.builder.file_path() else {
            return;
        };
        let mut state = lock(&reloader.state);
        let now = fingerprint(path);
        if state.fingerprint.as_ref() == Some(&now) {
            state.pending = None;
            return;
        }
        // Debounce: a file being written in place (truncated, then filled) is read only once
        // it has stopped changing for one interval, not half-way.
        if state.pending.as_ref() != Some(&now) {
            state.pending = Some(now);
            return;
        }
        state.pending = None;
        state.fingerprint = Some(now);
        let _ = self.reload(reloader, &mut state, false);
    }

    fn reload(
        &self,
        reloader: &Reloader,
        state: &mut ReloadState,
        forced: bool,
    ) -> Result<bool, ConfigError> {
        let Some(path) = reloader.builder.file_path() else {
            return Ok(false);
        };
        let outcome = read_file(path).and_then(|text| {
            if !forced && state.good_text.as_deref() == Some(text.as_str()) {
                return Ok(None);
            }
            let config = reloader.builder.build_with_text(Some(&text))?;
            Ok(Some((config, text)))
        });
        match outcome {
            Ok(None) => Ok(false),
            Ok(Some((config, text))) => {
                state.good_text = Some(text);
                *lock(&self.last_error) = None;
                Ok(self.publish(config))
            }
            Err(e) => {
                self.reload_errors.fetch_add(1, Ordering::Relaxed);
                let message = e.to_string();
                if reloader.options.log_errors {
                    eprintln!(
                        "flamewatch: configuration reload rejected, keeping the previous configuration: {message}"
                    );
                }
                *lock(&self.last_error) = Some(message);
                Err(e)
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        *lock(&self.stop.stopped) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            // The watcher may itself drop the last reference while polling; it then exits on
            // its next wake-up and must not join itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

fn watch_loop(shared: Weak<Shared>, stop: Arc<StopSignal>, interval: Duration) {
    loop {
        {
            let stopped = lock(&stop.stopped);
            let (stopped, _) = stop
                .wake
                .wait_timeout_while(stopped, interval, |s| !*s)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *stopped {
                return;
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // A panic while reloading must not end the watcher; the next change is retried.
        let _ = catch_unwind(AssertUnwindSafe(|| shared.poll()));
        drop(shared);
    }
}
