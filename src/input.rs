//! Reading the files svcprobe is given (resolv.conf, CA bundles, `--objects`, stdin),
//! bounded in size and in time.
//!
//! A path may name something that is not a regular file: a FIFO nobody writes to, a pipe
//! held open, `/dev/zero`. Each is read without blocking past `until` (the command's
//! deadline: its clock starts before the read) and without keeping more than the limit:
//! a file known to be larger is refused before any byte is read, and a stream stops being
//! read one byte past the limit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;

/// resolv.conf is a few hundred bytes, a CA bundle a few hundred KB: a cap keeps a wrong
/// `--file /dev/zero` harmless.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Time a command without a deadline of its own gives a read (a CA bundle, resolv.conf).
pub const READ_TIME: Duration = Duration::from_secs(5);

/// Reads a small text file by `until`; invalid UTF-8 is replaced, not fatal (findings will
/// show it).
pub fn read_text(path: &Path, until: Instant) -> Result<String, Error> {
    read_text_up_to(path, MAX_CONFIG_BYTES, until)
}

/// Reads at most `limit` bytes of `path` by `until`; more than that is an error.
pub fn read_text_up_to(path: &Path, limit: u64, until: Instant) -> Result<String, Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    // Non-blocking, so that opening a FIFO with no writer does not wait for one.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    let bytes = if metadata.is_file() {
        if metadata.len() > limit {
            return Err(read_error(too_large(limit)));
        }
        read_regular(file, metadata.len(), limit)
    } else {
        read_stream(file.as_raw_fd(), limit, until)
    };
    bytes.map(text).map_err(read_error)
}

/// `kubectl get -o json` of a busy namespace can be large; this bounds memory all the same.
pub const MAX_OBJECTS_BYTES: u64 = 32 << 20;

/// `--objects FILE` (`-`: standard input), read and parsed by `until`: `diagnose` and
/// `node` take the same document. serde cannot stop halfway, so the parse runs on a thread
/// of its own: a document too large to parse in time (tens of thousands of endpoints, a
/// slow node) is an error that says so when the deadline comes, not a report that comes late.
pub fn read_objects(path: &Path, until: Instant) -> Result<crate::k8s::Objects, Error> {
    let text = if path.as_os_str() == "-" {
        read_stdin_up_to(MAX_OBJECTS_BYTES, until)?
    } else {
        read_text_up_to(path, MAX_OBJECTS_BYTES, until)?
    };
    let bytes = text.len();
    let parsed = crate::probe::pool::before(until, move || crate::k8s::parse(&text));
    let not_in_time = || Error::Read {
        path: path.to_path_buf(),
        source: io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{bytes} bytes not parsed before the deadline: give a longer --deadline, \
                 or only the Service's own objects"
            ),
        ),
    };
    parsed.ok_or_else(not_in_time)?.map_err(|e| Error::Invalid {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// Reads standard input, at most `limit` bytes, by `until`.
pub fn read_stdin_up_to(limit: u64, until: Instant) -> Result<String, Error> {
    read_stream(libc::STDIN_FILENO, limit, until)
        .map(text)
        .map_err(|source| Error::Read {
            path: "standard input".into(),
            source,
        })
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("too large (limit {limit} bytes)"),
    )
}

/// A regular file: reads do not block, and one byte past the limit tells a file that grew.
/// Room for the size `fstat` gave means two reads (the file, then its end) instead of a
/// growing buffer's four for a resolv.conf.
fn read_regular(file: File, size: u64, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(limit)).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// A pipe, FIFO, socket or device: each read waits (in `poll`) only until `until`.
fn read_stream(fd: RawFd, limit: u64, until: Instant) -> io::Result<Vec<u8>> {
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if !readable(fd, until)? {
            return Err(stalled(fd, bytes.len(), start.elapsed()));
        }
        // SAFETY: reads into a live buffer of the length given.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match usize::try_from(n) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                bytes.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if bytes.len() as u64 > limit {
                    return Err(too_large(limit));
                }
            }
            Err(_) => {
                let e = io::Error::last_os_error();
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) {
                    return Err(e);
                }
            }
        }
    }
}

/// What happened to a stream that did not end by the deadline: nothing came at all (a
/// FIFO that nobody opens for writing), or some bytes and then neither more nor an end.
fn stalled(fd: RawFd, read: usize, waited: Duration) -> io::Error {
    let kind = stream_kind(fd);
    let ms = waited.as_millis();
    let what = if read == 0 {
        format!(
            "nothing written to this {kind} in {ms} ms (the time the command has): is \
             anything writing to it?"
        )
    } else {
        format!(
            "{read} bytes from this {kind}, then neither more nor an end in {ms} ms (the time \
             the command has): its writer keeps it open"
        )
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// `FIFO`, `pipe`, `socket` or `device` for the error of a stream that stalled.
fn stream_kind(fd: RawFd) -> &'static str {
    // SAFETY: fstat writes into the zeroed stat buffer given; a failure leaves it zero.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    let mode = if unsafe { libc::fstat(fd, &mut stat) } == 0 {
        stat.st_mode & libc::S_IFMT
    } else {
        0
    };
    match mode {
        // Anonymous pipes are FIFOs to fstat; a named one has a path, and the error shows it.
        libc::S_IFIFO => "FIFO or pipe",
        libc::S_IFSOCK => "socket",
        libc::S_IFCHR | libc::S_IFBLK => "device",
        _ => "stream",
    }
}

/// Waits until `until` at most for `fd` to have data (or an end); false when it has not.
fn readable(fd: RawFd, until: Instant) -> io::Result<bool> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, count 1.
        match unsafe { libc::poll(&mut pollfd, 1, ms) } {
            0 => continue,
            n if n > 0 => return Ok(true),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(300)
    }

    /// Issue 10: a stream that does not end by the deadline says which way it stalled.
    #[test]
    fn a_stalled_pipe_says_whether_anything_came() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let e = read_stream(reader.as_raw_fd(), 100, soon()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(
            e.to_string()
                .starts_with("nothing written to this FIFO or pipe in "),
            "{e}"
        );
        std::io::Write::write_all(&mut writer, b"nameserver").unwrap();
        let e = read_stream(reader.as_raw_fd(), 100, soon()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("10 bytes from this FIFO or pipe, then"),
            "{e}"
        );
    }

    #[test]
    fn a_regular_file_over_the_limit_is_refused_before_reading() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let e = read_text_up_to(&path, 10, soon()).unwrap_err();
        assert!(e.to_string().contains("too large (limit 10 bytes)"), "{e}");
        assert!(read_text(&path, soon()).unwrap().contains("[package]"));
    }

    #[test]
    fn an_endless_device_stops_at_the_limit() {
        let e = read_text_up_to(Path::new("/dev/zero"), 100_000, soon()).unwrap_err();
        assert!(
            e.to_string().contains("too large (limit 100000 bytes)"),
            "{e}"
        );
        assert_eq!(read_text(Path::new("/dev/null"), soon()).unwrap(), "");
    }
}
