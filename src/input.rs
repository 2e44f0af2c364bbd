//! Reading the files svcprobe is given (resolv.conf, CA bundles, objects), bounded in size.

use std::io::Read;
use std::path::Path;

use crate::error::Error;

/// resolv.conf is a few hundred bytes; a cap keeps a wrong `--file /dev/zero` harmless.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a small text file; invalid UTF-8 is replaced, not fatal (findings will show it).
pub fn read_text(path: &Path) -> Result<String, Error> {
    read_text_up_to(path, MAX_CONFIG_BYTES)
}

/// Reads at most `limit` bytes of a text file.
pub fn read_text_up_to(path: &Path, limit: u64) -> Result<String, Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
