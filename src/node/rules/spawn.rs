//! Starts one program chrooted into the host root the way save.rs runs `iptables-save`: no
//! environment, stdin and stderr on `/dev/null`, stdout a pipe, the signal mask emptied and
//! SIGPIPE back to its default (as std's `Command` leaves a child). libc's `fork` and `execve`
//! rather than std's `Command`, whose spawn (a `posix_spawn` path besides the `fork` one, the
//! environment as a map of `OsString`s, pidfd support) was 19 KB of the binary and 10 KB of the
//! image layer for this one call (BENCHMARKS.md, "Size steps").

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::ptr;

/// A started program; dropped before it was reaped, it is killed and reaped.
pub struct Child {
    pid: libc::pid_t,
    reaped: bool,
    /// The read end of its stdout.
    pub stdout: Option<File>,
}

/// Starts `program` (a path inside `root`) with `root` as its root directory and `/` as its
/// working directory. A failure in the child before `execve` returns (chroot, chdir, exec)
/// is this call's error, with the child's errno, as std's `spawn` reports it.
pub fn spawn(root: &Path, program: &Path) -> io::Result<Child> {
    let root = c_path(root)?;
    let program = c_path(program)?;
    let argv = [program.as_ptr(), ptr::null()];
    let envp: [*const libc::c_char; 1] = [ptr::null()];
    // Read-only for stdin, write-only for stderr, as std opens them.
    let null_in = File::open("/dev/null")?;
    let null_out = File::options().write(true).open("/dev/null")?;
    let (stdout, stdout_w) = pipe()?;
    let (report, report_w) = pipe()?;
    // SAFETY: the child runs only async-signal-safe calls on memory prepared above, then
    // execs or exits; the parent goes on with its own copies.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let fds = ChildFds {
            stdin: null_in.as_raw_fd(),
            stderr: null_out.as_raw_fd(),
            stdout: stdout_w.as_raw_fd(),
            report: report_w.as_raw_fd(),
        };
        // SAFETY: in the child of fork, as `in_child` requires.
        unsafe { in_child(&root, &argv, &envp, fds) }
    }
    drop((stdout_w, report_w));
    let mut child = Child {
        pid,
        reaped: false,
        stdout: Some(File::from(stdout)),
    };
    // The report pipe closes empty when execve succeeds (close-on-exec); otherwise it
    // carries the child's errno.
    let mut errno = [0u8; 4];
    match read_retrying(&mut File::from(report), &mut errno)? {
        0 => Ok(child),
        _ => {
            child.wait()?;
            Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)))
        }
    }
}

impl Child {
    /// Its exit status when it has ended, `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.wait_pid(libc::WNOHANG)
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        // SAFETY: kill has no memory arguments; the pid is our unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.wait()
    }

    fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.wait_pid(0)? {
                return Ok(status);
            }
        }
    }

    /// One `waitpid`, retried on EINTR.
    fn wait_pid(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        let mut status = 0;
        loop {
            // SAFETY: status is a valid int to write.
            match unsafe { libc::waitpid(self.pid, &mut status, flags) } {
                0 => return Ok(None),
                -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                -1 => return Err(io::Error::last_os_error()),
                _ => {
                    self.reaped = true;
                    return Ok(Some(ExitStatus::from_raw(status)));
                }
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.kill();
        }
    }
}

/// The descriptors the child puts in place.
struct ChildFds {
    stdin: RawFd,
    stdout: RawFd,
    stderr: RawFd,
    report: RawFd,
}

/// Between fork and exec: stdin and stderr to /dev/null, stdout to the pipe, the signal
/// mask emptied and SIGPIPE's default back (std ignores it in its own processes), chroot
/// and chdir, execve; on a failure the errno goes to the report pipe and the child exits.
///
/// # Safety
/// Only in the child of `fork`, with `argv` and `envp` null-terminated arrays of C strings.
unsafe fn in_child(
    root: &CStr,
    argv: &[*const libc::c_char; 2],
    envp: &[*const libc::c_char; 1],
    fds: ChildFds,
) -> ! {
    let mut no_signals: libc::sigset_t = std::mem::zeroed();
    let ready = libc::dup2(fds.stdin, 0) == 0
        && libc::dup2(fds.stdout, 1) == 1
        && libc::dup2(fds.stderr, 2) == 2
        && libc::sigemptyset(&mut no_signals) == 0
        && libc::pthread_sigmask(libc::SIG_SETMASK, &no_signals, ptr::null_mut()) == 0
        && libc::signal(libc::SIGPIPE, libc::SIG_DFL) != libc::SIG_ERR
        && libc::chroot(root.as_ptr()) == 0
        && libc::chdir(c"/".as_ptr()) == 0;
    if ready {
        libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
    }
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    libc::write(fds.report, errno.to_ne_bytes().as_ptr().cast(), 4);
    libc::_exit(127)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just opened both, and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn read_retrying(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// A shell script in a directory of its own (removed with [`remove`]), as a path inside
    /// the root `/`.
    fn script(name: &str, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("svcprobe-spawn-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn remove(script: &Path) {
        if let Some(dir) = script.parent() {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    fn output(child: &mut Child) -> (String, ExitStatus) {
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        (text, status)
    }

    /// What the child sees (environment, directory, stdin, stderr, signals, descriptors)
    /// is what std's `Command` gave save.rs before: std is the oracle.
    #[test]
    fn the_child_sees_what_std_command_gave_it() {
        let probe = script(
            "sees.sh",
            "env; pwd; cat; echo to-stderr >&2; grep -E '^Sig(Blk|Ign)' /proc/self/status; \
             ls /proc/self/fd | wc -l; readlink /proc/self/fd/0 /proc/self/fd/2; \
             grep -h flags /proc/self/fdinfo/0 /proc/self/fdinfo/1 /proc/self/fdinfo/2; exit 3",
        );
        let (ours, status) = output(&mut spawn(Path::new("/"), &probe).unwrap());
        assert_eq!(status.to_string(), "exit status: 3");
        let mut std_command = Command::new(&probe);
        std_command
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: chroot and chdir are async-signal-safe.
        unsafe {
            std_command.pre_exec(|| {
                std::os::unix::fs::chroot("/")?;
                std::env::set_current_dir("/")
            });
        }
        let theirs = std_command.output().unwrap();
        remove(&probe);
        assert_eq!(ours, String::from_utf8_lossy(&theirs.stdout));
        assert!(
            ours.starts_with("PWD=/\n/\nSigBlk:\t0000000000000000\n"),
            "{ours}"
        );
    }

    #[test]
    fn failures_before_exec_are_the_spawn_error() {
        let missing = Path::new("/nonexistent/iptables-save");
        let ours = spawn(Path::new("/"), missing).err().map(|e| e.to_string());
        let std = Command::new(missing).spawn().err().map(|e| e.to_string());
        assert_eq!(ours, std);
        assert_eq!(
            ours.as_deref(),
            Some("No such file or directory (os error 2)")
        );
        let no_root = spawn(Path::new("/nonexistent-root"), Path::new("/bin/sh"));
        assert_eq!(
            no_root.err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn killed_and_reaped() {
        let slow = script("slow.sh", "exec sleep 30");
        let mut child = spawn(Path::new("/"), &slow).unwrap();
        let pid = child.pid;
        let started = Instant::now();
        assert!(child.try_wait().unwrap().is_none());
        assert_eq!(child.kill().unwrap().signal(), Some(libc::SIGKILL));
        assert!(started.elapsed() < Duration::from_secs(10));
        // SAFETY: waitpid on a pid that is no longer our child only fails.
        let gone = unsafe { libc::waitpid(pid, ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(gone, -1, "the child was reaped");
        drop(child);
        let dropped = spawn(Path::new("/"), &slow).unwrap();
        remove(&slow);
        let pid = dropped.pid;
        drop(dropped);
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::waitpid(pid, ptr::null_mut(), libc::WNOHANG) },
            -1
        );
    }
}
