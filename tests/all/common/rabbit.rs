#![allow(dead_code)]
//! A RabbitMQ node for tests (Debian `rabbitmq-server`, `test-infra.md` §7), on 127.0.0.1.
//!
//! - [`shared`]: one node per test binary run, started on first use (`OnceLock`);
//! - [`RabbitNode::start`]: a node of its own (fault tests stop and restart it without
//!   disturbing the others); dropping it stops it.
//!
//! Every node has its own epmd, free ports (AMQP, distribution, epmd), everything bound to
//! 127.0.0.1, and a 0755 folder owned by `rabbitmq` (the Debian wrapper drops root). It is
//! ready when its AMQP port accepts a TCP connection (polled with a deadline).
//!
//! A node must not outlive the test process, even when the process exits without running
//! destructors (a test binary ends with `exit`, statics are never dropped): each node gets a
//! watchdog shell whose stdin is a pipe held only by the test process (Rust opens pipes
//! close-on-exec, so no other child inherits it). When the test process dies, the pipe
//! closes, `read` returns and the watchdog kills the node's process group, its beam (pid
//! file), its epmd, and removes the folder.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a node may take to accept connections (5–10 s on 2 idle cores; the CI machine is
/// shared by parallel builds).
const START_DEADLINE: Duration = Duration::from_secs(120);

pub struct RabbitNode {
    /// AMQP port on 127.0.0.1.
    pub port: u16,
    dist_port: u16,
    epmd_port: u16,
    dir: PathBuf,
    node: Mutex<Option<Child>>,
    epmd: Mutex<Child>,
    watchdog: Mutex<(Child, Option<ChildStdin>)>,
}

static SHARED: OnceLock<RabbitNode> = OnceLock::new();

/// The node shared by every test of this binary (never stop it: use a node of your own for
/// fault tests).
pub fn shared() -> &'static RabbitNode {
    SHARED.get_or_init(RabbitNode::start)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn chown_rabbitmq(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(
        status.success(),
        "chown rabbitmq {}: is rabbitmq-server installed (scripts/setup)?",
        path.display()
    );
}

impl RabbitNode {
    /// Start a node of its own; panics with the broker's log when it does not come up.
    pub fn start() -> RabbitNode {
        assert!(
            Path::new("/usr/sbin/rabbitmq-server").exists(),
            "rabbitmq-server missing: run scripts/setup"
        );
        let dir = tempfile::Builder::new()
            .prefix("rabbitmq-node.")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let port = free_port();
        let (dist_port, epmd_port) = (free_port(), free_port());
        std::fs::create_dir_all(dir.join("mnesia")).unwrap();
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(dir.join("plugins"), "[].\n").unwrap();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("loopback_users = none\nlisteners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .unwrap();
        chown_rabbitmq(&dir);
        let epmd = Command::new("epmd")
            .args(["-address", "127.0.0.1", "-port", &epmd_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("epmd (erlang-base, installed with rabbitmq-server)");
        let watchdog = spawn_watchdog(&dir, epmd.id());
        let node = RabbitNode {
            port,
            dist_port,
            epmd_port,
            dir,
            node: Mutex::new(None),
            epmd: Mutex::new(epmd),
            watchdog: Mutex::new(watchdog),
        };
        node.start_broker();
        node
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// The node's folder (logs under `log/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The beam's pid (from the node's pid file), when running.
    pub fn beam_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("rabbit.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the AMQP port accepts connections.
    pub fn is_up(&self) -> bool {
        TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    fn start_broker(&self) {
        let node_name = format!("t{}@localhost", self.port);
        let d = |p: &str| self.dir.join(p).display().to_string();
        let child = Command::new("/usr/sbin/rabbitmq-server")
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODENAME", &node_name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d("mnesia"))
            .env("RABBITMQ_LOG_BASE", d("log"))
            .env("RABBITMQ_PID_FILE", d("rabbit.pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d("plugins"))
            .env("RABBITMQ_CONFIG_FILE", d("rabbitmq"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(self.dir.join("stderr.log")).unwrap())
            .process_group(0)
            .spawn()
            .expect("start rabbitmq-server");
        std::fs::write(self.dir.join("node.pgid"), child.id().to_string()).unwrap();
        *self.node.lock().unwrap() = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        while !self.is_up() {
            let exited = self
                .node
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "rabbitmq did not start on 127.0.0.1:{} ({exited:?}); logs in {}",
                    self.port,
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop the broker (the node's whole process group) and wait until it is gone; the
    /// port then refuses connections. Its epmd and folder stay for [`Self::restart`].
    pub fn stop(&self) {
        let Some(mut child) = self.node.lock().unwrap().take() else {
            return;
        };
        let pgid = child.id() as i32;
        let beam = self.beam_pid();
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
            if let Some(b) = beam {
                libc::kill(b, libc::SIGKILL);
            }
        }
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(30);
        while beam.is_some_and(alive) || self.is_up() {
            assert!(Instant::now() < deadline, "rabbitmq did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.dir.join("rabbit.pid"));
    }

    /// Start the broker again on the same ports (after [`Self::stop`]).
    pub fn restart(&self) {
        self.stop();
        self.start_broker();
    }
}

/// Whether process `pid` exists (and is not a zombie we could still reap).
pub fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        self.stop();
        let mut epmd = self.epmd.lock().unwrap();
        let _ = epmd.kill();
        let _ = epmd.wait();
        // Closing the watchdog's stdin makes it clean up (and remove the folder).
        let mut wd = self.watchdog.lock().unwrap();
        drop(wd.1.take());
        let _ = wd.0.wait();
    }
}

/// The watchdog: waits for EOF on stdin (the test process died or dropped the node), then
/// kills the node's process group, its beam, its epmd, and removes its folder.
fn spawn_watchdog(dir: &Path, epmd_pid: u32) -> (Child, Option<ChildStdin>) {
    let script = r#"read _ignored
d="$1"; epmd="$2"
pg=$(cat "$d/node.pgid" 2>/dev/null); beam=$(cat "$d/rabbit.pid" 2>/dev/null)
[ -n "$pg" ] && kill -KILL -- "-$pg" 2>/dev/null
[ -n "$beam" ] && kill -KILL "$beam" 2>/dev/null
kill -KILL "$epmd" 2>/dev/null
rm -rf "$d"
"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("rabbit-watchdog")
        .arg(dir)
        .arg(epmd_pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a Ctrl-C to the test run must not kill it before it cleans up.
        .process_group(0)
        .spawn()
        .expect("spawn the rabbitmq watchdog");
    let stdin = child.stdin.take();
    (child, stdin)
}
