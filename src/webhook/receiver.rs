//! A tiny recording HTTP receiver on 127.0.0.1, shared by `cadkit demo` and the tests.
//!
//! It records every request (method, path, headers, body) and answers from a script of
//! [`Reply`]s, one per request, then `200 {"ok":true}` once the script is used up:
//! a status with headers (e.g. `503`, or `429` + `Retry-After`), or a stall (reads the
//! request, answers nothing for a while, then closes). One request per connection
//! (`Connection: close`). Dropping it stops the server.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to answer to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with this status, extra headers and body.
    Status {
        /// HTTP status code.
        code: u16,
        /// Extra response headers.
        headers: Vec<(String, String)>,
        /// Response body.
        body: String,
    },
    /// Read the request, answer nothing for this long, then close the connection.
    Stall(Duration),
}

impl Reply {
    /// Answer `code` with an empty body.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Answer `code` with `body`.
    pub fn with_body(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// Answer `code` with `Retry-After: seconds`, to test a sender's backoff.
    pub fn retry_after(code: u16, seconds: u64) -> Reply {
        Reply::Status {
            code,
            headers: vec![("Retry-After".into(), seconds.to_string())],
            body: String::new(),
        }
    }
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request method.
    pub method: String,
    /// The request path, query included.
    pub path: String,
    /// The request headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// When the request arrived (to check a sender's waits).
    pub at: Instant,
}

impl Recorded {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    changed: Condvar,
}

/// The running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listen on 127.0.0.1 on a free port.
    pub fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, st) = (s.clone(), st.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &s, &st);
                });
            }
        });
        Ok(Receiver {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The address the receiver listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Queue replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(replies);
    }

    /// Requests recorded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait until at least `n` requests were recorded or `timeout` passed; returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        let mut rec = self
            .shared
            .recorded
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while rec.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            rec = self
                .shared
                .changed
                .wait_timeout(rec, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        rec.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, shared: &Shared, stop: &AtomicBool) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(16 * 1024 * 1024)];
    reader.read_exact(&mut body)?;
    let reply = shared
        .replies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front()
        .unwrap_or_else(|| Reply::with_body(200, "{\"ok\":true}"));
    {
        let mut rec = shared.recorded.lock().unwrap_or_else(|e| e.into_inner());
        rec.push(Recorded {
            method,
            path,
            headers,
            body,
            at: Instant::now(),
        });
        shared.changed.notify_all();
    }
    let mut conn = conn;
    match reply {
        Reply::Stall(d) => {
            let end = Instant::now() + d;
            while Instant::now() < end && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        }
        Reply::Status {
            code,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {code} {}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n",
                reason(code),
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            conn.write_all(head.as_bytes())?;
            conn.write_all(body.as_bytes())?;
            conn.flush()
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
