//! A private network namespace for tests whose peers are sockets of the test process
//! itself: the namespace is made by one thread (`unshare(CLONE_NEWNET)`, then `lo` up) and
//! kept alive by a file descriptor; sockets are made inside it by a short-lived thread that
//! joins it (`setns`), and svcprobe runs inside it, so no traffic touches the machine's own
//! namespace. Needs root.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::OnceLock;
use std::thread;

use super::testbed::require_root;

/// A network namespace with only `lo`, up.
pub struct Netns {
    handle: File,
}

/// The one private namespace of this test binary (made on first use).
pub fn private() -> &'static Netns {
    static NETNS: OnceLock<Netns> = OnceLock::new();
    NETNS.get_or_init(Netns::new)
}

impl Netns {
    fn new() -> Netns {
        require_root();
        thread::spawn(|| {
            // SAFETY: affects only this thread, which ends right after.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            // A child forked from this thread starts in its namespace.
            let up = Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .expect("run ip");
            assert!(up.success(), "ip link set lo up: {up}");
            Netns {
                handle: File::open("/proc/thread-self/ns/net").expect("open the namespace"),
            }
        })
        .join()
        .expect("namespace thread")
    }

    /// Runs `f` on a thread inside the namespace: sockets it makes belong to it for good.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let fd = self.handle.as_raw_fd();
        thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: joins this thread alone to the namespace the fd refers to.
                    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .expect("thread in the namespace")
        })
    }

    /// `program`, to be started inside the namespace (by `nsenter`, which execs it: no
    /// fork of this test process, whose memory would then count in the child's peak RSS).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("/usr/bin/nsenter");
        command
            .arg(format!(
                "--net=/proc/{}/fd/{}",
                std::process::id(),
                self.handle.as_raw_fd()
            ))
            .arg("--")
            .arg(program);
        command
    }

    /// Runs `script` with `sh -c` inside the namespace; panics unless it succeeds.
    pub fn sh(&self, script: &str) {
        let status = self
            .command("sh")
            .args(["-c", script])
            .status()
            .expect("run sh");
        assert!(status.success(), "{script}: {status}");
    }
}
