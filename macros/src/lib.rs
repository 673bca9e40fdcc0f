//! `#[magpie::main]` and `#[magpie::test]`: an `async fn` run to completion
//! on a new magpie runtime.
//!
//! Use them through `magpie-rt` (`magpie::main`, `magpie::test`); this crate
//! only holds the procedural macros. Both expand to a plain `fn` that builds
//! a runtime with `magpie::Runtime::builder()`, options applied, and runs the
//! original `async fn` with `Runtime::block_on`:
//!
//! ```
//! #[magpie::main(worker_threads = 2)]
//! async fn main() {
//!     let answer = magpie::spawn(async { 42 }).await.unwrap();
//!     assert_eq!(answer, 42);
//! }
//! ```
//!
//! expands to (roughly)
//!
//! ```
//! fn main() {
//!     async fn main() {
//!         let answer = magpie::spawn(async { 42 }).await.unwrap();
//!         assert_eq!(answer, 42);
//!     }
//!     magpie::Runtime::builder()
//!         .worker_threads(2)
//!         .build()
//!         .expect("#[magpie::main]: could not start the magpie runtime")
//!         .block_on(main())
//! }
//! ```
//!
//! The original function is kept whole inside the generated one, so its
//! return type, `?` and `return` behave exactly as written.

// The examples are about `main` itself: writing it out is the point.
#![allow(clippy::needless_doctest_main)]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ItemFn, Lit, Meta, Token};

/// Runs an `async fn main` on a new magpie runtime: asyncio's
/// `asyncio.run(main())`, written as an attribute.
///
/// ```
/// use std::time::Duration;
///
/// #[magpie::main]
/// async fn main() {
///     magpie::time::sleep(Duration::from_millis(1)).await;
///     let answer = magpie::spawn(async { 6 * 7 }).await.unwrap();
///     println!("{answer}");
/// }
/// ```
///
/// `main` may return what a plain `main` may return, a `Result` included:
///
/// ```
/// #[magpie::main(worker_threads = 2, thread_name = "app")]
/// async fn main() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = "42".parse()?;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// ```
///
/// # Options
///
/// | option | value | `Builder` call |
/// |---|---|---|
/// | `worker_threads = 4` | an integer literal, at least 1 | [`worker_threads`] (default: one per core) |
/// | `debug = true` | `true` or `false` | [`debug`] (slow polls, unobserved panics, tasks left at shutdown) |
/// | `thread_name = "app"` | a string literal | [`thread_name`] (workers are named `app-0`, `app-1`, ...) |
/// | `crate = "rt"` | the path magpie is imported as | for a renamed dependency (default `magpie`) |
///
/// The function must be `async`, take no parameters and have no generics;
/// anything else, an unknown option or a value of the wrong type is a
/// compile error that says which.
///
/// # Panics
///
/// The generated `main` panics if the runtime cannot start (a worker
/// thread could not be spawned).
///
/// [`worker_threads`]: https://docs.rs/magpie-rt/latest/magpie/struct.Builder.html#method.worker_threads
/// [`debug`]: https://docs.rs/magpie-rt/latest/magpie/struct.Builder.html#method.debug
/// [`thread_name`]: https://docs.rs/magpie-rt/latest/magpie/struct.Builder.html#method.thread_name
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a new magpie runtime, one runtime per test.
///
/// The test may return `()` or a `Result` (an `Err` fails the test, as for
/// a plain `#[test]`); other test attributes (`#[should_panic]`,
/// `#[ignore]`) go below it. It takes the options of [`macro@main`]; a test
/// runtime has **2 worker threads** unless `worker_threads` says otherwise:
/// enough for work stealing and wakes from another thread, few enough that
/// the test harness, which runs tests in parallel, does not start a
/// runtime's worth of threads per core per test.
///
/// ```
/// #[magpie::test]
/// async fn spawned_tasks_complete() {
///     let task = magpie::spawn(async { 1 + 1 });
///     assert_eq!(task.await.unwrap(), 2);
/// }
///
/// #[magpie::test(worker_threads = 1, debug = true)]
/// async fn parses() -> Result<(), std::num::ParseIntError> {
///     assert_eq!("7".parse::<u8>()?, 7);
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "#[magpie::main]",
            Kind::Test => "#[magpie::test]",
        }
    }
}

/// The options, as parsed from the attribute's arguments.
#[derive(Default)]
struct Options {
    worker_threads: Option<(u64, Span)>,
    debug: Option<bool>,
    thread_name: Option<String>,
    krate: Option<syn::Path>,
}

const OPTIONS: &str = "`worker_threads = N`, `debug = true|false`, `thread_name = \"..\"`, \
                       `crate = \"..\"`";

fn expand(
    kind: Kind,
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        // Not a function: let rustc say what it is, beside our error.
        Err(_) => {
            let msg = format!("{} applies to an `async fn`", kind.attr());
            let err = syn::Error::new_spanned(&item, msg).to_compile_error();
            return quote! { #err #item };
        }
    };
    let checked = parse_options(kind, args).and_then(|opts| check_fn(kind, &func).map(|()| opts));
    match checked {
        Ok(opts) => generate(kind, opts, func),
        Err(err) => fallback(kind, err, &func),
    }
}

fn parse_options(kind: Kind, args: proc_macro2::TokenStream) -> syn::Result<Options> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut opts = Options::default();
    for meta in metas {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => {
                let name = path_name(other.path());
                let msg = match name.as_str() {
                    "worker_threads" | "debug" | "thread_name" | "crate" => {
                        format!("`{name}` needs a value, e.g. {}", example(&name))
                    }
                    _ => format!(
                        "unknown {} option `{name}`; the options are {OPTIONS}",
                        kind.attr()
                    ),
                };
                return Err(syn::Error::new(other.span(), msg));
            }
        };
        let name = path_name(&nv.path);
        let duplicate =
            || syn::Error::new(nv.path.span(), format!("`{name}` is given more than once"));
        match name.as_str() {
            "worker_threads" => {
                let n = match lit(&nv.value) {
                    Some(Lit::Int(int)) => int.base10_parse::<u64>()?,
                    _ => return Err(wrong_value(&nv.value, &name)),
                };
                if n == 0 {
                    return Err(syn::Error::new(
                        nv.value.span(),
                        "`worker_threads` must be at least 1: a runtime needs a worker",
                    ));
                }
                if opts.worker_threads.replace((n, nv.value.span())).is_some() {
                    return Err(duplicate());
                }
            }
            "debug" => {
                let on = match lit(&nv.value) {
                    Some(Lit::Bool(b)) => b.value,
                    _ => return Err(wrong_value(&nv.value, &name)),
                };
                if opts.debug.replace(on).is_some() {
                    return Err(duplicate());
                }
            }
            "thread_name" => {
                let s = match lit(&nv.value) {
                    Some(Lit::Str(s)) => s.value(),
                    _ => return Err(wrong_value(&nv.value, &name)),
                };
                if opts.thread_name.replace(s).is_some() {
                    return Err(duplicate());
                }
            }
            "crate" => {
                let path = match lit(&nv.value) {
                    Some(Lit::Str(s)) => s.parse::<syn::Path>()?,
                    _ => return Err(wrong_value(&nv.value, &name)),
                };
                if opts.krate.replace(path).is_some() {
                    return Err(duplicate());
                }
            }
            _ => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!(
                        "unknown {} option `{name}`; the options are {OPTIONS}",
                        kind.attr()
                    ),
                ));
            }
        }
    }
    Ok(opts)
}

fn path_name(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}

fn lit(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(lit) => Some(&lit.lit),
        _ => None,
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "worker_threads" => "`worker_threads = 4`",
        "debug" => "`debug = true`",
        "thread_name" => "`thread_name = \"app\"`",
        _ => "`crate = \"magpie\"`",
    }
}

fn wrong_value(value: &Expr, name: &str) -> syn::Error {
    let expected = match name {
        "worker_threads" => "an integer literal",
        "debug" => "`true` or `false`",
        _ => "a string literal",
    };
    syn::Error::new(
        value.span(),
        format!("`{name}` expects {expected}, e.g. {}", example(name)),
    )
}

fn check_fn(kind: Kind, func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "{} applies to an `async fn`: add `async` before `fn`",
                kind.attr()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        let msg = match kind {
            Kind::Main => "`main` takes no arguments (read them with `std::env::args()`)",
            Kind::Test => "a test function takes no arguments",
        };
        return Err(syn::Error::new(sig.inputs.span(), msg));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{} does not take a generic function", kind.attr()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new(
                attr.meta.span(),
                "`#[test]` is already added by #[magpie::test]: remove this one",
            ));
        }
    }
    Ok(())
}

fn generate(kind: Kind, opts: Options, func: ItemFn) -> proc_macro2::TokenStream {
    let krate = opts.krate.unwrap_or_else(|| syn::parse_quote!(magpie));
    let mut builder = quote! { #krate::Runtime::builder() };
    let worker_threads = match (opts.worker_threads, kind) {
        (Some((n, span)), _) => {
            let n = proc_macro2::Literal::u64_unsuffixed(n);
            Some(quote_spanned!(span=> #n))
        }
        (None, Kind::Test) => Some(quote!(2)),
        (None, Kind::Main) => None,
    };
    if let Some(n) = worker_threads {
        builder = quote! { #builder.worker_threads(#n) };
    }
    if let Some(on) = opts.debug {
        builder = quote! { #builder.debug(#on) };
    }
    if let Some(name) = opts.thread_name {
        builder = quote! { #builder.thread_name(#name) };
    }

    // The user's function, kept whole and nested in the generated one:
    // its attributes other than docs and test markers go on the outer fn.
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ident = &sig.ident;
    let mut outer_sig = sig.clone();
    outer_sig.asyncness = None;
    let test_attr = match kind {
        Kind::Test => quote! { #[::core::prelude::v1::test] },
        Kind::Main => quote! {},
    };
    let expect = format!("{}: could not start the magpie runtime", kind.attr());
    quote! {
        #test_attr
        #(#attrs)*
        #vis #outer_sig {
            #sig #block
            #builder
                .build()
                .expect(#expect)
                .block_on(#ident())
        }
    }
}

/// On error: the error, and a plain function of the same name, so that
/// rustc does not add "`main` function not found" or "`main` is async" to
/// the one error that matters.
fn fallback(kind: Kind, err: syn::Error, func: &ItemFn) -> proc_macro2::TokenStream {
    let err = err.to_compile_error();
    let ident = &func.sig.ident;
    let vis = &func.vis;
    match kind {
        Kind::Main => quote! { #err #vis fn #ident() {} },
        Kind::Test => quote! { #err #[allow(dead_code)] #vis fn #ident() {} },
    }
}
