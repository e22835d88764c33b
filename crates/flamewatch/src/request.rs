//! Request scope: which request a thread is working for, so the calls measured inside it carry
//! that request's context (SPEC §2.2).
//!
//! A [`Scope`] is a request-level sampling decision plus, for sampled requests, the live
//! [`Request`] (method, route template, user, request id, and the status once the response is
//! known). Entering a scope moves its request into the thread's profiling state for the
//! duration of a closure or of one poll of a [`Scoped`] future, so a request that hops between
//! worker threads at every `.await` keeps its context without reference-count traffic. Every
//! event measured inside holds the request, and the collector attaches its context to the
//! records and anomalies it produces. Unsampled requests need no `Request` at all: their calls
//! are only counted.

use crate::output::RequestContext;
use crate::span;
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::task::{Context, Poll};

/// Longest user or request id kept, in bytes (longer ones are cut at a character boundary).
pub const MAX_ID_LEN: usize = 128;

/// One request being served: the context attached to every call measured inside it.
#[derive(Debug)]
pub struct Request {
    method: Arc<str>,
    route: Arc<str>,
    user: Option<Box<str>>,
    /// The caller's id, or `None` for the generated `req-<seq>`.
    id: Option<Box<str>>,
    seq: u64,
    sampled: bool,
    /// Response status, 0 until known.
    status: AtomicU16,
}

/// Source of generated request ids (unique within the process).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn cut(s: &str) -> Box<str> {
    if s.len() <= MAX_ID_LEN {
        return s.into();
    }
    let mut end = MAX_ID_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].into()
}

impl Request {
    /// A sampled request to `route` (a template such as `/users/{id}`, never a raw path) with
    /// a generated id (`req-` and 16 hex digits, unique within the process). Pass shared
    /// strings (`Arc<str>`) to create a request without copying them.
    pub fn new(method: impl Into<Arc<str>>, route: impl Into<Arc<str>>) -> Self {
        Request {
            method: method.into(),
            route: route.into(),
            user: None,
            id: None,
            seq: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sampled: true,
            status: AtomicU16::new(0),
        }
    }

    /// Sets the user id (at most [`MAX_ID_LEN`] bytes are kept).
    pub fn with_user(mut self, user: &str) -> Self {
        self.user = Some(cut(user));
        self
    }

    /// Uses `id` (e.g. the `x-request-id` header) instead of a generated id.
    pub fn with_id(mut self, id: &str) -> Self {
        self.id = Some(cut(id));
        self
    }

    /// Sets whether the request is traced in depth (default `true`).
    pub fn with_sampled(mut self, sampled: bool) -> Self {
        self.sampled = sampled;
        self
    }

    /// Records the response status once known; records produced afterwards carry it.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::Relaxed);
    }

    /// The response status, once set.
    pub fn status(&self) -> Option<u16> {
        match self.status.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }

    /// HTTP method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Route template.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// User id, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Request id.
    pub fn id(&self) -> Cow<'_, str> {
        match &self.id {
            Some(id) => Cow::Borrowed(id),
            None => Cow::Owned(format!("req-{:016x}", self.seq)),
        }
    }

    /// Whether the request is traced in depth.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The context as attached to records and anomalies.
    pub fn context(&self) -> RequestContext {
        RequestContext {
            method: Some(self.method.to_string()),
            route: Some(self.route.to_string()),
            status: self.status(),
            user: self.user.as_deref().map(str::to_owned),
            request_id: Some(self.id().into_owned()),
            sampled: self.sampled,
        }
    }
}

/// A request-level sampling decision and, optionally, the request it belongs to.
///
/// ```
/// use std::sync::Arc;
/// use flamewatch::{Request, Scope};
/// let request = Arc::new(Request::new("GET", "/users/{id}").with_user("alice"));
/// Scope::request(request).run(|| {
///     // every profiled call here is measured and carries the request's context
///     assert_eq!(Scope::current().request_ref().map(|r| r.route().to_owned()),
///                Some("/users/{id}".to_owned()));
/// });
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scope {
    sampled: Option<bool>,
    request: Option<Arc<Request>>,
}

impl Scope {
    /// The scope in force on this thread (empty outside any).
    pub fn current() -> Scope {
        let (sampled, request) = span::current_scope();
        Scope { sampled, request }
    }

    /// Every profiled call measured (`true`) or skipped (`false`), with no request context.
    pub fn sampled(sampled: bool) -> Scope {
        Scope {
            sampled: Some(sampled),
            request: None,
        }
    }

    /// The scope of `request`: sampled as the request is, and its context attached.
    pub fn request(request: Arc<Request>) -> Scope {
        Scope {
            sampled: Some(request.sampled),
            request: Some(request),
        }
    }

    /// The sampling decision, if the scope makes one.
    pub fn is_sampled(&self) -> Option<bool> {
        self.sampled
    }

    /// The request, if any.
    pub fn request_ref(&self) -> Option<&Arc<Request>> {
        self.request.as_ref()
    }

    /// Runs `f` inside the scope; the thread's previous scope is restored afterwards.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut request = self.request.clone();
        span::with_scope(self.sampled, &mut request, f)
    }

    /// Runs `f` inside the scope, lending the request to the thread without cloning it.
    pub fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        span::with_scope(self.sampled, &mut self.request, f)
    }

    /// Wraps `future` so every poll runs inside the scope.
    pub fn wrap<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            scope: self,
            inner: future,
        }
    }
}

/// Wraps `future` (typically before `tokio::spawn`) so it runs in the scope of the request
/// being handled where `propagate` is called: same sampling decision, same context.
///
/// ```
/// # async fn handler() {
/// let task = flamewatch::propagate(async { /* profiled work */ });
/// // tokio::spawn(task);
/// # let _ = task;
/// # }
/// ```
pub fn propagate<F: Future>(future: F) -> Scoped<F> {
    Scope::current().wrap(future)
}

/// A future whose every poll runs inside a [`Scope`]. Create it with [`Scope::wrap`] or
/// [`propagate`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Scoped<F> {
    scope: Scope,
    inner: F,
}

impl<F> Scoped<F> {
    /// The scope the future runs in.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`; `scope` is
        // an ordinary field, never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `inner` lives as long as `self` and is not moved.
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        this.scope.enter(|| inner.poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_generated_unique_and_long_values_are_cut() {
        let a = Request::new("GET", "/a");
        let b = Request::new("GET", "/a");
        assert_ne!(a.id(), b.id());
        assert!(
            a.id().starts_with("req-") && a.id().len() == 20,
            "{}",
            a.id()
        );
        let long = "é".repeat(100);
        let r = a.with_user(&long).with_id("abc");
        assert!(r.user().unwrap().len() <= MAX_ID_LEN);
        assert!(r.user().unwrap().chars().all(|c| c == 'é'));
        assert_eq!(r.id(), "abc");
        assert_eq!(
            Request::new("GET", "/a")
                .context()
                .request_id
                .unwrap()
                .len(),
            20
        );
    }

    #[test]
    fn status_is_unknown_until_set_and_appears_in_the_context() {
        let r = Request::new("POST", "/orders").with_user("u1");
        assert_eq!(r.context().status, None);
        r.set_status(201);
        let c = r.context();
        assert_eq!(
            (
                c.method.as_deref(),
                c.route.as_deref(),
                c.status,
                c.user.as_deref()
            ),
            (Some("POST"), Some("/orders"), Some(201), Some("u1"))
        );
        assert!(c.sampled);
    }

    #[test]
    fn scopes_nest_and_restore() {
        assert!(Scope::current().is_sampled().is_none());
        let outer = Arc::new(Request::new("GET", "/outer"));
        Scope::request(outer.clone()).run(|| {
            assert_eq!(Scope::current().request_ref().unwrap().route(), "/outer");
            Scope::sampled(false).run(|| {
                let s = Scope::current();
                assert_eq!(s.is_sampled(), Some(false));
                assert!(s.request_ref().is_none());
            });
            assert_eq!(Scope::current().is_sampled(), Some(true));
            assert_eq!(Scope::current().request_ref().unwrap().route(), "/outer");
        });
        assert!(Scope::current().request_ref().is_none());
        assert_eq!(
            Arc::strong_count(&outer),
            1,
            "the scope keeps no reference behind"
        );
    }
}
