//! Key names and their small integer ids, with a cardinality cap.
//!
//! Every profiled name (function, span, tracing span) maps to a [`KeyId`] once, on a slow
//! path; the hot path only ever carries ids. When `max_keys` names exist, new names share
//! the [`OTHER`] key, so memory stays bounded whatever the callers do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Index of a key in the registry and in the collector's tables.
pub(crate) type KeyId = u32;

/// The key that absorbs names beyond the cardinality cap.
pub const OTHER: &str = "_other";

#[derive(Debug, Default)]
struct Inner {
    by_name: HashMap<Arc<str>, KeyId>,
    names: Vec<Arc<str>>,
    other: Option<KeyId>,
    overflowed: u64,
}

/// The name ↔ id table.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    max_keys: AtomicUsize,
}

impl Registry {
    pub(crate) fn new(max_keys: usize) -> Self {
        Registry {
            inner: Mutex::new(Inner::default()),
            max_keys: AtomicUsize::new(max_keys.max(1)),
        }
    }

    /// Changes the cardinality cap for names registered from now on.
    pub(crate) fn set_max_keys(&self, max_keys: usize) {
        self.max_keys.store(max_keys.max(1), Ordering::Relaxed);
    }

    /// The id of `name`, created if needed (or [`OTHER`]'s beyond the cap).
    pub(crate) fn key_for(&self, name: &str) -> KeyId {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = inner.by_name.get(name) {
            return id;
        }
        if inner.names.len() >= self.max_keys.load(Ordering::Relaxed) {
            inner.overflowed += 1;
            if let Some(other) = inner.other {
                return other;
            }
            let id = Self::insert(&mut inner, OTHER);
            inner.other = Some(id);
            return id;
        }
        Self::insert(&mut inner, name)
    }

    fn insert(inner: &mut Inner, name: &str) -> KeyId {
        let id = inner.names.len() as KeyId;
        let name: Arc<str> = Arc::from(name);
        inner.names.push(name.clone());
        inner.by_name.insert(name, id);
        id
    }

    /// Names of every key, indexed by id.
    pub(crate) fn names(&self) -> Vec<Arc<str>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .names
            .clone()
    }

    /// Registrations that landed in [`OTHER`] because of the cap.
    pub(crate) fn overflowed(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .overflowed
    }
}

/// Turns a Rust path (`my_app::search::embed`) into a dotted name (`my_app.search.embed`).
pub(crate) fn dotted(path: &str) -> String {
    path.replace("::", ".")
}

/// Whether `name` is selected by `targets`: empty selects all; otherwise a target matches
/// the name itself or a prefix ending on a whole segment (`search` matches `search.embed`,
/// not `searcher`).
pub(crate) fn matches_targets(name: &str, targets: &[String]) -> bool {
    targets.is_empty()
        || targets.iter().any(|t| {
            let t = t.trim_end_matches('.');
            name == t
                || (name.len() > t.len() && name.starts_with(t) && name.as_bytes()[t.len()] == b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_whole_segments() {
        let t = vec!["semantic_search".to_string()];
        assert!(matches_targets("semantic_search", &t));
        assert!(matches_targets("semantic_search.search", &t));
        assert!(!matches_targets("semantic_searcher", &t));
        assert!(!matches_targets("other.semantic_search", &t));
        assert!(matches_targets("anything", &[]));
        assert!(matches_targets("a.b.c", &["a.b.".to_string()]));
    }

    #[test]
    fn cap_sends_new_names_to_other() {
        let r = Registry::new(2);
        let a = r.key_for("a");
        assert_eq!(r.key_for("a"), a);
        let b = r.key_for("b");
        let c = r.key_for("c");
        let d = r.key_for("d");
        assert_ne!(a, b);
        assert_eq!(c, d);
        assert_eq!(&*r.names()[c as usize], OTHER);
        assert_eq!(r.overflowed(), 2);
        assert_eq!(dotted("my_app::search::embed"), "my_app.search.embed");
    }
}
