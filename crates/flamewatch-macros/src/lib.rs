//! Procedural macros for flamewatch: `#[profiled]`.
//!
//! `lib.rs` holds the entry points, `attr.rs` parses the attribute arguments and `expand.rs`
//! generates the instrumented function. Misuse is reported as a spanned `compile_error!`.

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Profiles a function: every call is counted and a sampled fraction is measured.
///
/// * `#[profiled]` names the function after its path (`my_app::search::embed` is reported
///   as `my_app.search.embed`);
/// * `#[profiled("search.embed")]` or `#[profiled(name = "search.embed")]` names it.
///
/// On an `async fn` the future is measured from first poll to completion (wall time) and
/// while being polled (busy time), correctly across threads and when cancelled. Inside an
/// `#[async_trait]` impl, put `#[profiled]` on the method: the boxed future is measured,
/// not the construction of the box.
#[proc_macro_attribute]
pub fn profiled(args: TokenStream, item: TokenStream) -> TokenStream {
    match attr::Args::parse(args.into()) {
        Ok(args) => expand::expand(args, item.into()).into(),
        Err(err) => err.to_compile_error().into(),
    }
}
