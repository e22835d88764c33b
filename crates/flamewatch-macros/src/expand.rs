//! Code generation for `#[profiled]`.

use crate::attr::Args;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Expr, ItemFn, ReturnType, Stmt};

pub(crate) fn expand(args: Args, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item) {
        Ok(f) => f,
        Err(err) => {
            return syn::Error::new(err.span(), "#[profiled] applies to functions and methods")
                .to_compile_error();
        }
    };
    if func.sig.constness.is_some() {
        return syn::Error::new(
            func.sig.constness.span(),
            "#[profiled] cannot measure a `const fn`",
        )
        .to_compile_error();
    }
    let ident = &func.sig.ident;
    let name = match &args.name {
        Some(lit) => lit.to_token_stream(),
        None => {
            let fn_name = ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let site = quote! {
        static __FLAMEWATCH_SITE: ::flamewatch::Callsite = ::flamewatch::Callsite::new(#name);
    };
    let block = &func.block;
    let body = if func.sig.asyncness.is_some() {
        let ret = match &func.sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(ty),
            ReturnType::Type(..) => None,
            ReturnType::Default => None,
        };
        let inner = match ret {
            Some(ty) => {
                quote_spanned!(block.span()=> async move { let __flamewatch_ret: #ty = #block; __flamewatch_ret })
            }
            None => quote_spanned!(block.span()=> async move #block),
        };
        quote!({
            #site
            ::flamewatch::instrument(&__FLAMEWATCH_SITE, #inner).await
        })
    } else if let Some(boxed) = async_trait_body(block) {
        // `#[async_trait]` already turned the body into `Box::pin(async move { .. })`:
        // measure the future, not its construction.
        let (call, future) = boxed;
        let mut stmts: Vec<TokenStream> = block.stmts[..block.stmts.len() - 1]
            .iter()
            .map(ToTokens::to_token_stream)
            .collect();
        let func_path = &call.func;
        stmts.push(quote!(#func_path(::flamewatch::instrument(&__FLAMEWATCH_SITE, #future))));
        quote!({
            #site
            #(#stmts)*
        })
    } else {
        quote!({
            #site
            let __flamewatch_guard = ::flamewatch::enter(&__FLAMEWATCH_SITE);
            #block
        })
    };
    *func.block = match syn::parse2::<Block>(body) {
        Ok(b) => b,
        Err(err) => return err.to_compile_error(),
    };
    func.to_token_stream()
}

/// Finds a trailing `Box::pin(async move { .. })` expression, as `#[async_trait]` writes.
fn async_trait_body(block: &Block) -> Option<(&syn::ExprCall, &Expr)> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last() else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let is_box_pin = path.path.segments.len() >= 2
        && path.path.segments.last().is_some_and(|s| s.ident == "pin")
        && path
            .path
            .segments
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|s| s.ident == "Box");
    if !is_box_pin || call.args.len() != 1 {
        return None;
    }
    match call.args.first() {
        Some(e @ Expr::Async(_)) => Some((call, e)),
        _ => None,
    }
}

fn contains_impl_trait(ty: &syn::Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(ref i) if i == "impl"))
}
