//! musl's `pthread_setname_np`, without musl's printf.
//!
//! std names each thread it starts with `pthread_setname_np(pthread_self(), name)` (when the
//! thread has a name), and that call site alone links musl's implementation, whose branch
//! for *another* thread formats `/proc/self/task/TID/comm` with `snprintf`: musl's whole
//! printf (`printf_core`, `fmt_fp`, `vfprintf`, about 9.5 KB of the shipped binary,
//! BENCHMARKS.md). Defined here, the linker takes this definition and leaves musl's out.
//! For the calling thread it does what musl does, `prctl(PR_SET_NAME)`; naming another
//! thread, which neither std nor svcprobe does, is refused. Only in musl builds: glibc's
//! own stays in the test binaries.

/// `int pthread_setname_np(pthread_t thread, const char *name)`: 0, or an error number.
///
/// # Safety
/// `name` must point to a NUL-terminated string, as for the C function.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[no_mangle]
pub unsafe extern "C" fn pthread_setname_np(
    thread: libc::pthread_t,
    name: *const libc::c_char,
) -> libc::c_int {
    // SAFETY: the caller passes a NUL-terminated string (the C contract); strnlen reads at
    // most 16 bytes of it.
    if unsafe { libc::strnlen(name, 16) } > 15 {
        return libc::ERANGE;
    }
    // SAFETY: pthread_self has no preconditions.
    if thread != unsafe { libc::pthread_self() } {
        return libc::ENOTSUP;
    }
    // SAFETY: PR_SET_NAME reads the NUL-terminated name checked above.
    match unsafe { libc::prctl(libc::PR_SET_NAME, name) } {
        0 => 0,
        _ => std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL),
    }
}
