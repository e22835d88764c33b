//! Parsing of `#[profiled(...)]` arguments.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// Parsed attribute arguments.
pub(crate) struct Args {
    /// The explicit name, if one was given.
    pub name: Option<LitStr>,
}

impl Args {
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Args { name: None });
        }
        let name = if input.peek(LitStr) {
            input.parse::<LitStr>()?
        } else if input.peek(syn::Ident) {
            let key: syn::Ident = input.parse()?;
            if key != "name" {
                return Err(syn::Error::new(
                    key.span(),
                    "unknown argument: expected `name = \"...\"` or a string literal",
                ));
            }
            input.parse::<Token![=]>()?;
            input.parse::<LitStr>()?
        } else {
            return Err(input.error("expected a name: `#[profiled(\"module.function\")]`"));
        };
        if name.value().trim().is_empty() {
            return Err(syn::Error::new(
                name.span(),
                "the profiled name must not be empty",
            ));
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the name"));
        }
        Ok(Args { name: Some(name) })
    }
}
