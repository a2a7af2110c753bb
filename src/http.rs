//! The one async runtime of the process and the one HTTP setup of the synchronous steps:
//! async `reqwest` driven by one shared runtime (no `reqwest::blocking` beside it, which
//! would bring a runtime of its own per client). Steps stay plain functions: [`block_on`]
//! runs a request to completion. The webhook, the image registry client and the
//! orchestrator client (HTTP and AMQP) run on it, and so do the long-lived servers
//! (`cadkit orchestrator`, `cadkit receiver`), whose async main is driven by [`serve`].

use std::future::Future;
use std::sync::OnceLock;

/// The shared runtime (two workers: HTTP and AMQP clients need little, and the reference
/// servers are for development and tests), built on first use.
pub fn runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cadkit-http")
        .enable_all()
        .build()?;
    // Another thread may have won the race: its runtime is kept, ours dropped.
    Ok(RUNTIME.get_or_init(|| rt))
}

/// Run `f` (an HTTP request, a body read) to completion on the shared runtime. Called
/// from inside another runtime (a test server, an async caller), it runs on a scoped
/// thread instead, since a runtime cannot block inside another.
pub fn block_on<F>(f: F) -> std::io::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    drive(runtime()?, f).map_err(|_| std::io::Error::other("the HTTP request panicked"))
}

/// Run `f` to completion on `rt` from synchronous code; from inside a runtime (where
/// `rt.block_on` would panic), on a scoped thread. `Err` carries the panic of `f`, for
/// callers that resume it (the orchestrator client) or report it ([`block_on`]).
pub fn drive<F>(rt: &tokio::runtime::Runtime, f: F) -> std::thread::Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(f));
    }
    std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join())
}

/// Run a long-lived async main (a server) on the shared runtime until it returns. Called
/// from the synchronous CLI; the servers' own tasks are spawned on the same runtime.
pub fn serve<F: Future>(f: F) -> std::io::Result<F::Output> {
    Ok(runtime()?.block_on(f))
}

#[cfg(test)]
mod tests {
    #[test]
    fn block_on_works_outside_and_inside_a_runtime() {
        assert_eq!(super::block_on(async { 1 + 1 }).unwrap(), 2);
        let inner = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let v = inner.block_on(async { super::block_on(async { 40 + 2 }).unwrap() });
        assert_eq!(v, 42);
    }
}
