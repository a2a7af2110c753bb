//! The one HTTP setup of the synchronous steps: async `reqwest` driven by one shared
//! runtime (no `reqwest::blocking` beside it, which would bring a runtime of its own per
//! client). Steps stay plain functions: [`block_on`] runs a request to completion. The
//! webhook and the image registry client use it; the orchestrator client still has its own
//! runtime.

use std::future::Future;
use std::sync::OnceLock;

/// The shared runtime (two workers: HTTP clients need little), built on first use; the
/// image registry client runs on it too.
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
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(f));
    }
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(f))
            .join()
            .map_err(|_| std::io::Error::other("the HTTP request panicked"))
    })
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
