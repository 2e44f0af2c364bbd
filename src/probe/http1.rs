//! HTTP/1.1 on the wire, for one GET per connection: the request's bytes, the response head,
//! and the body's framing (RFC 9112). The parsing is pure; [`Wire`] drives it over any
//! [`Read`], so the client (agent.rs, over TCP or TLS with deadlines) and the fuzz target
//! read responses with the same code.
//!
//! Heads are capped at [`MAX_HEAD`] bytes, interim (1xx) heads included, so a peer cannot
//! hold memory or the reader with endless headers or interim responses; chunk-size and
//! trailer lines are bounded too. Lines may end in CRLF or a bare LF (RFC 9112, 2.2), a
//! folded header line is joined to the one before it (5.2). Only the status and the framing
//! headers are kept: the probes need nothing else.

use std::fmt;
use std::io::{self, Read};

use crate::probe::url::HttpUrl;

/// The response head (all interim heads and the final one), as ureq allowed.
pub const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size line, extensions included.
const MAX_CHUNK_LINE: usize = 4096;
/// Bytes asked of the source per read.
const READ_SIZE: usize = 16 * 1024;

/// The request: GET, the connection closed after the response, nothing compressed.
pub fn request(url: &HttpUrl, bearer: Option<&str>) -> Vec<u8> {
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: svcprobe/{}\r\n",
        url.target,
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(token) = bearer {
        head.push_str("Authorization: Bearer ");
        head.push_str(token);
        head.push_str("\r\nAccept: application/json\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    head.into_bytes()
}

/// How the body of a response ends (RFC 9112, 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// 1xx, 204, 304: no body, whatever the headers say.
    Empty,
    Length(u64),
    Chunked,
    /// Read until the server closes.
    Close,
}

/// A final response's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
}

/// How a response breaks HTTP/1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    Version,
    StatusLine,
    HeaderLine,
    /// A folded line right after the status line: nothing to fold it onto.
    FoldAtStart,
    BadContentLength,
    ConflictingContentLength,
    BadTransferEncoding,
    ChunkSize,
    ChunkSizeOverflow,
    ChunkLineTooLong,
    ChunkEnd,
    TrailersTooLarge,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Version => "not HTTP/1.0 or HTTP/1.1",
            WireError::StatusLine => "malformed status line",
            WireError::HeaderLine => "malformed header line",
            WireError::FoldAtStart => "a folded header line right after the status line",
            WireError::BadContentLength => "content-length header not a number",
            WireError::ConflictingContentLength => "conflicting content-length headers",
            WireError::BadTransferEncoding => "transfer-encoding without a coding",
            WireError::ChunkSize => "chunk size is not a hex number",
            WireError::ChunkSizeOverflow => "chunk size too large",
            WireError::ChunkLineTooLong => "chunk size line longer than 4096 bytes",
            WireError::ChunkEnd => "no line end after a chunk's data",
            WireError::TrailersTooLarge => "trailer section larger than 65536 bytes",
        })
    }
}

impl std::error::Error for WireError {}

/// Why a response could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// From the source: a deadline, a reset, TLS.
    Io(io::Error),
    Wire(WireError),
    /// No complete head within [`MAX_HEAD`] bytes.
    HeadTooLarge,
    /// The connection ended before the head was complete.
    EndInHead,
    /// The connection ended before the body's end (Content-Length or the last chunk).
    EndInBody,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Wire(e) => write!(f, "{e}"),
            ReadError::HeadTooLarge => write!(f, "header too large (limit {MAX_HEAD} bytes)"),
            ReadError::EndInHead => f.write_str("connection closed before the response head"),
            ReadError::EndInBody => f.write_str("connection closed before the end of the body"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<WireError> for ReadError {
    fn from(e: WireError) -> ReadError {
        ReadError::Wire(e)
    }
}

/// Where the head that starts `buf` ends (just past its blank line), looking from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(lf) = buf.get(at..)?.iter().position(|b| *b == b'\n') {
        let next = at + lf + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => at = next,
        }
    }
    None
}

/// The lines of a head, without their CR.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// `HTTP/1.x NNN reason`: the status and whether it is HTTP/1.0.
fn status_line(line: &[u8]) -> Result<(u16, bool), WireError> {
    let rest = line.strip_prefix(b"HTTP/").ok_or(WireError::StatusLine)?;
    let (http10, rest) = match rest {
        [b'1', b'.', b'0', rest @ ..] => (true, rest),
        [b'1', b'.', b'1', rest @ ..] => (false, rest),
        [a, b'.', b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
            return Err(WireError::Version)
        }
        _ => return Err(WireError::StatusLine),
    };
    let (status, reason) = match rest {
        [b' ', a, b, c, reason @ ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            let digit = |d: &u8| u16::from(d - b'0');
            (digit(a) * 100 + digit(b) * 10 + digit(c), reason)
        }
        _ => return Err(WireError::StatusLine),
    };
    let reason_ok = match reason {
        [] => true,
        [b' ', text @ ..] => text.iter().all(|b| is_field_byte(*b)),
        _ => false,
    };
    if status < 100 || !reason_ok {
        return Err(WireError::StatusLine);
    }
    Ok((status, http10))
}

/// Checks the start of a status line whose line has not all arrived: `Err` as soon as
/// its first bytes cannot begin `HTTP/1.x NNN`, with the error [`status_line`] gives the
/// whole line, so a reply that is not HTTP is told from a slow one by its first 13 bytes.
fn status_prefix(start: &[u8]) -> Result<(), WireError> {
    const SHAPE: &[u8; 13] = b"HTTP/1.1 200 ";
    let fits = |i: usize, b: u8| match i {
        0..=6 => SHAPE.get(i) == Some(&b),
        7 => matches!(b, b'0' | b'1'),
        8 => b == b' ',
        9..=11 => b.is_ascii_digit(),
        _ => matches!(b, b' ' | b'\r' | b'\n'),
    };
    let seen = start.get(..SHAPE.len()).unwrap_or(start);
    match seen.iter().enumerate().find(|(i, b)| !fits(*i, **b)) {
        None => Ok(()),
        // `HTTP/2.0` (Version) or `HTTP/2 ` (StatusLine): told apart by its eighth byte.
        Some((5..=7, _)) if seen.len() < 8 => Ok(()),
        Some(_) if seen.len() >= 8 => status_line(seen).map(drop),
        Some(_) => Err(WireError::StatusLine),
    }
}

/// HTAB, SP, visible ASCII and obs-text: what a field value (or reason phrase) may hold.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// The framing headers' values, folded lines joined.
#[derive(Default)]
struct FramingFields {
    content_length: Vec<Vec<u8>>,
    transfer_encoding: Vec<Vec<u8>>,
}

/// Reads the head in `head` (status line to blank line, both included).
fn parse_head(head: &[u8]) -> Result<Head, WireError> {
    let mut lines = lines(head);
    let (status, http10) = status_line(lines.next().unwrap_or_default())?;
    let mut fields = FramingFields::default();
    // The value a folded line continues (RFC 9112, 5.2: replaced by SP).
    let mut last: Option<&mut Vec<u8>> = None;
    let mut seen_field = false;
    for line in lines.filter(|l| !l.is_empty()) {
        if let [b' ' | b'\t', ..] = line {
            if !seen_field {
                return Err(WireError::FoldAtStart);
            }
            if !line.iter().all(|b| is_field_byte(*b)) {
                return Err(WireError::HeaderLine);
            }
            if let Some(value) = last.as_mut() {
                value.push(b' ');
                value.extend_from_slice(trim_ows(line));
            }
            continue;
        }
        let (name, value) = field(line)?;
        seen_field = true;
        last = if name.eq_ignore_ascii_case(b"content-length") {
            fields.content_length.push(value.to_vec());
            fields.content_length.last_mut()
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            fields.transfer_encoding.push(value.to_vec());
            fields.transfer_encoding.last_mut()
        } else {
            None
        };
    }
    Ok(Head {
        status,
        framing: framing(status, http10, &fields)?,
    })
}

/// `name: value`, the name a token with no space before the colon (RFC 9112, 5.1).
fn field(line: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or(WireError::HeaderLine)?;
    let (name, value) = (line.get(..colon), line.get(colon + 1..));
    let (Some(name), Some(value)) = (name, value) else {
        return Err(WireError::HeaderLine);
    };
    if name.is_empty()
        || !name.iter().all(|b| is_token_byte(*b))
        || !value.iter().all(|b| is_field_byte(*b))
    {
        return Err(WireError::HeaderLine);
    }
    Ok((name, trim_ows(value)))
}

/// RFC 9112, 6.3, for the response to a GET.
fn framing(status: u16, http10: bool, fields: &FramingFields) -> Result<Framing, WireError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    if !fields.transfer_encoding.is_empty() {
        // 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; only the
        // close ends it. Otherwise Transfer-Encoding overrides Content-Length (6.3, 3), and
        // a body whose last coding is not chunked ends with the connection (6.3, 4).
        if http10 {
            return Ok(Framing::Close);
        }
        let last = fields
            .transfer_encoding
            .iter()
            .flat_map(|v| v.split(|b| *b == b','))
            .map(|coding| trim_ows(coding.split(|b| *b == b';').next().unwrap_or_default()))
            .rfind(|coding| !coding.is_empty())
            .ok_or(WireError::BadTransferEncoding)?;
        return Ok(if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    Ok(match content_length(&fields.content_length)? {
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// Every Content-Length value, repeated lines and comma lists alike, must be the same
/// number (RFC 9110, 8.6; as curl and ureq read it).
fn content_length(values: &[Vec<u8>]) -> Result<Option<u64>, WireError> {
    let mut length = None;
    for element in values.iter().flat_map(|v| v.split(|b| *b == b',')) {
        let digits = trim_ows(element);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(WireError::BadContentLength);
        }
        let n = digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        let n = n.ok_or(WireError::BadContentLength)?;
        if length.is_some_and(|l| l != n) {
            return Err(WireError::ConflictingContentLength);
        }
        length = Some(n);
    }
    Ok(length)
}

/// Where a body decoder stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// This many body bytes still to come.
    Length(u64),
    Close,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    /// After the last chunk; the trailer bytes read so far.
    Trailers(usize),
    Done,
}

/// Turns the bytes after the head into body bytes, per the framing.
#[derive(Clone, Copy, Debug)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The connection ended here: the end of a body read until close, else a body cut short.
    fn end(&mut self) -> Result<(), ReadError> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(ReadError::EndInBody),
        }
    }

    /// Decodes what it can of `input` into `out`: (bytes of input used, bytes written).
    /// (0, 0) with room in `out` means more input is needed.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), WireError> {
        let (mut used, mut written) = (0, 0);
        loop {
            let rest = input.get(used..).unwrap_or_default();
            let room = out.get_mut(written..).unwrap_or_default();
            let (step_used, step_written) = self.step(rest, room)?;
            used += step_used;
            written += step_written;
            if step_used == 0 || self.state == State::Done {
                return Ok((used, written));
            }
        }
    }

    /// One move of the state machine.
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), WireError> {
        match self.state {
            State::Done => Ok((0, 0)),
            State::Close => {
                let n = copy(input, out, u64::MAX);
                Ok((n, n))
            }
            State::Length(left) | State::ChunkData(left) => {
                let n = copy(input, out, left);
                let left = left - n as u64;
                self.state = match (self.state, left) {
                    (State::Length(_), 0) => State::Done,
                    (State::Length(_), left) => State::Length(left),
                    (_, 0) => State::ChunkEnd,
                    (_, left) => State::ChunkData(left),
                };
                Ok((n, n))
            }
            State::ChunkEnd => {
                let used = match input {
                    [b'\n', ..] => 1,
                    [b'\r', b'\n', ..] => 2,
                    [] | [b'\r'] => 0,
                    _ => return Err(WireError::ChunkEnd),
                };
                if used > 0 {
                    self.state = State::ChunkSize;
                }
                Ok((used, 0))
            }
            State::ChunkSize => {
                let Some((line, used)) = line(input, MAX_CHUNK_LINE, WireError::ChunkLineTooLong)?
                else {
                    return Ok((0, 0));
                };
                self.state = match chunk_size(line)? {
                    0 => State::Trailers(0),
                    n => State::ChunkData(n),
                };
                Ok((used, 0))
            }
            State::Trailers(seen) => {
                let room = MAX_HEAD.saturating_sub(seen);
                let Some((line, used)) = line(input, room, WireError::TrailersTooLarge)? else {
                    return Ok((0, 0));
                };
                // Trailer fields are read past: nothing in them changes what the probe saw.
                self.state = if line.is_empty() {
                    State::Done
                } else {
                    State::Trailers(seen + used)
                };
                Ok((used, 0))
            }
        }
    }
}

/// Copies at most `limit` bytes: how many.
fn copy(input: &[u8], out: &mut [u8], limit: u64) -> usize {
    let n = input
        .len()
        .min(out.len())
        .min(usize::try_from(limit).unwrap_or(usize::MAX));
    if let (Some(to), Some(from)) = (out.get_mut(..n), input.get(..n)) {
        to.copy_from_slice(from);
    }
    n
}

/// The first line of `input` without its line end, and the bytes it takes with it; None
/// while incomplete. A line longer than `max` is `too_long`.
fn line(
    input: &[u8],
    max: usize,
    too_long: WireError,
) -> Result<Option<(&[u8], usize)>, WireError> {
    let window = input.get(..max).unwrap_or(input);
    match window.iter().position(|b| *b == b'\n') {
        Some(lf) => {
            let line = window.get(..lf).unwrap_or_default();
            Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), lf + 1)))
        }
        None if input.len() >= max => Err(too_long),
        None => Ok(None),
    }
}

/// `1*HEXDIG [BWS ; extensions]` (RFC 9112, 7.1.1); extensions are read past.
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(WireError::ChunkSize);
    }
    let (hex, rest) = line.split_at(digits);
    match trim_ows(rest) {
        [] | [b';', ..] => {}
        _ => return Err(WireError::ChunkSize),
    }
    hex.iter().try_fold(0u64, |n, d| {
        let digit = char::from(*d).to_digit(16).ok_or(WireError::ChunkSize)?;
        n.checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .ok_or(WireError::ChunkSizeOverflow)
    })
}

/// A response read from `source`: the head, then the body through [`Wire::body`].
pub struct Wire<R> {
    source: R,
    /// Bytes read; `buf[pos..len]` are not used yet. Never more than a head (or a trailer
    /// section) is kept unread, so a read always has [`READ_SIZE`] bytes of room.
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    decoder: Decoder,
}

impl<R: Read> Wire<R> {
    pub fn new(source: R) -> Wire<R> {
        Wire {
            source,
            buf: vec![0; MAX_HEAD + READ_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            decoder: Decoder::new(Framing::Empty),
        }
    }

    pub fn source_mut(&mut self) -> &mut R {
        &mut self.source
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.pos..self.len).unwrap_or_default()
    }

    /// Moves the unread bytes to the front and reads more after them: the bytes read (0 at
    /// the end of the stream).
    fn fill(&mut self) -> Result<usize, ReadError> {
        self.buf.copy_within(self.pos..self.len, 0);
        self.len -= self.pos;
        self.pos = 0;
        let room = self.buf.get_mut(self.len..).unwrap_or_default();
        let n = loop {
            match self.source.read(room) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.map_err(ReadError::Io)?,
            }
        };
        self.len += n;
        Ok(n)
    }

    /// The final response's head: interim 1xx responses (but 101, which ends the exchange)
    /// are read past, as RFC 9110, 15.2 asks of a client.
    pub fn head(&mut self) -> Result<Head, ReadError> {
        // Bytes of the interim heads read past, and where the search for the current
        // head's end resumes (relative to `pos`).
        let (mut consumed, mut searched) = (0, 0);
        loop {
            let unread = self.unread();
            // Empty lines before a status line are skipped, as httparse does.
            let start = unread
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if let Some(end) = head_end(unread, start.max(searched)) {
                if consumed + end > MAX_HEAD {
                    return Err(ReadError::HeadTooLarge);
                }
                let head = parse_head(unread.get(start..end).unwrap_or_default())?;
                consumed += end;
                self.pos += end;
                searched = 0;
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                self.decoder = Decoder::new(head.framing);
                return Ok(head);
            }
            // A peer that is not HTTP (an SSH or TLS server, HTTP/2 only) sends no blank
            // line, or none soon: tell it by the first bytes, as they come.
            status_prefix(unread.get(start..).unwrap_or_default())?;
            if consumed + unread.len() >= MAX_HEAD {
                return Err(ReadError::HeadTooLarge);
            }
            // A blank line may straddle what is read next: its first LF is in the last two.
            searched = unread.len().saturating_sub(2);
            if self.fill()? == 0 {
                return Err(ReadError::EndInHead);
            }
        }
    }

    /// Reads body bytes into `out`: 0 at the body's end.
    pub fn body(&mut self, out: &mut [u8]) -> Result<usize, ReadError> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.decoder.done() {
                return Ok(0);
            }
            let unread = self.buf.get(self.pos..self.len).unwrap_or_default();
            let (used, written) = self.decoder.decode(unread, out)?;
            self.pos += used;
            if written > 0 {
                return Ok(written);
            }
            if used > 0 {
                continue;
            }
            if self.fill()? == 0 {
                self.decoder.end()?;
            }
        }
    }
}

/// A whole response from `bytes`, given to the reader `step` bytes at a time (the way a
/// server's segments arrive), the body kept up to `max_body` bytes: for the fuzz target.
pub fn read_all(bytes: &[u8], step: usize, max_body: usize) -> Result<(Head, Vec<u8>), ReadError> {
    let mut wire = Wire::new(Pieces { bytes, step });
    let head = wire.head()?;
    let mut body = vec![0; max_body];
    let mut filled = 0;
    while let Some(room) = body.get_mut(filled..).filter(|r| !r.is_empty()) {
        match wire.body(room)? {
            0 => break,
            n => filled += n,
        }
    }
    body.truncate(filled);
    Ok((head, body))
}

/// A source that hands out `step` bytes per read.
struct Pieces<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.step.max(1).min(out.len()).min(self.bytes.len());
        let (now, later) = self.bytes.split_at(n);
        if let Some(to) = out.get_mut(..n) {
            to.copy_from_slice(now);
        }
        self.bytes = later;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (status, body), or the error's words.
    type Outcome = Result<(u16, Vec<u8>), String>;

    /// The response in `bytes` read at every piece size from 1 to 9 and all at once, which
    /// must agree.
    fn read(bytes: &[u8]) -> Outcome {
        let all = read_all(bytes, bytes.len(), 1 << 20);
        let all = all.map(|(h, b)| (h.status, b)).map_err(|e| e.to_string());
        for step in 1..10 {
            let piecewise = read_all(bytes, step, 1 << 20)
                .map(|(h, b)| (h.status, b))
                .map_err(|e| e.to_string());
            assert_eq!(
                piecewise,
                all,
                "step {step}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
        all
    }

    fn ok(status: u16, body: &str) -> Outcome {
        Ok((status, body.as_bytes().to_vec()))
    }

    fn err(error: impl fmt::Display) -> Outcome {
        Err(error.to_string())
    }

    #[test]
    fn the_request() {
        let url = crate::probe::url::parse("http://[fd00::1]:8080/p?q#f").unwrap();
        let text = String::from_utf8(request(&url, None)).unwrap();
        assert_eq!(
            text,
            format!(
                "GET /p?q HTTP/1.1\r\nHost: [fd00::1]:8080\r\nUser-Agent: svcprobe/{}\r\n\
                 Connection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let api = crate::probe::url::parse("https://10.0.0.1:443/api").unwrap();
        let text = String::from_utf8(request(&api, Some("tok"))).unwrap();
        assert!(
            text.starts_with("GET /api HTTP/1.1\r\nHost: 10.0.0.1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nAuthorization: Bearer tok\r\nAccept: application/json\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn bodies_by_length_by_chunks_and_until_close() {
        let cases: &[(&[u8], Outcome)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                ok(200, "hello"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nEXTRA",
                ok(200, ""),
            ),
            (
                b"HTTP/1.0 200 OK\r\n\r\nuntil close",
                ok(200, "until close"),
            ),
            (b"HTTP/1.1 404 Not Found\r\n\r\n", ok(404, "")),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                  5;name=value;x=\"q;\"\r\nhello\r\n7 ; ext\r\n, world\r\n0\r\n\
                  Expires: never\r\nX-Checksum: 1\r\n\r\nEXTRA",
                ok(200, "hello, world"),
            ),
            (
                b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n00003\nabc\n0\n\n",
                ok(200, "abc"),
            ),
            // Transfer-Encoding overrides Content-Length; the last coding decides.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\n\
                  Transfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
                ok(200, "x"),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n1\r\nx",
                ok(200, "1\r\nx"),
            ),
            // HTTP/1.0 with Transfer-Encoding: faulty framing, read until close.
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
                ok(200, "1\r\nx\r\n0\r\n\r\n"),
            ),
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                ok(204, ""),
            ),
            (
                b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                ok(304, ""),
            ),
            // The same length repeated is one length.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2, 02\r\nContent-length: 2\r\n\r\nok",
                ok(200, "ok"),
            ),
            // A status line without a reason, leading blank lines, a folded header.
            (
                b"\r\n\r\nHTTP/1.1 200\r\nX-A: a\r\n  b\r\nContent-Length: 1\r\n\r\n!",
                ok(200, "!"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(&read(bytes), want, "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn interim_responses_are_read_past_but_101_ends_the_exchange() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
                      HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        assert_eq!(read(bytes), ok(200, "hi"));
        let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nnot http";
        assert_eq!(read(bytes), ok(101, ""));
    }

    #[test]
    fn bad_framing_is_refused() {
        let cases: &[(&[u8], WireError)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                WireError::ConflictingContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
                WireError::ConflictingContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                WireError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n",
                WireError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
                WireError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n 6\r\n\r\n",
                WireError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
                WireError::BadContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n",
                WireError::BadTransferEncoding,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                WireError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
                WireError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n",
                WireError::ChunkSize,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
                WireError::ChunkSizeOverflow,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n",
                WireError::ChunkEnd,
            ),
            (b"HTTP/2 200 OK\r\n\r\n", WireError::StatusLine),
            (b"HTTP/2.0 200 OK\r\n\r\n", WireError::Version),
            (b"HTTP/1.1 099 Low\r\n\r\n", WireError::StatusLine),
            (b"HTTP/1.1 2000 OK\r\n\r\n", WireError::StatusLine),
            (b"HTTP/1.1 200 O\x01K\r\n\r\n", WireError::StatusLine),
            (b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n", WireError::StatusLine),
            // A peer that is not HTTP writes a line and waits (SSH), or a frame and closes
            // (an HTTP/2-only server's GOAWAY): no blank line ever comes, so the first
            // bytes tell, as soon as they cannot begin a status line.
            (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", WireError::StatusLine),
            (
                b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
                WireError::StatusLine,
            ),
            (b"\x15\x03\x03\x00\x02\x02\x32", WireError::StatusLine),
            (b"-ERR unknown command 'GET'\r\n", WireError::StatusLine),
            (b"HTTP/2.0 200 OK\r\n", WireError::Version),
            (b"HTTP/1.2", WireError::Version),
            (b"HTTP/2 200 OK\r\n", WireError::StatusLine),
            (b"HTTP/1.1 2x", WireError::StatusLine),
            (b"HTTP/1.1 20\r\nX: y\r\n", WireError::StatusLine),
            (b"HTTP/1.1 200\tOK\r\n", WireError::StatusLine),
            (b"http/1.1 200 OK\r\n", WireError::StatusLine),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nSSH-2.0-x\r\n",
                WireError::StatusLine,
            ),
            (
                b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n",
                WireError::HeaderLine,
            ),
            (b"HTTP/1.1 200 OK\r\n: v\r\n\r\n", WireError::HeaderLine),
            (
                b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                WireError::HeaderLine,
            ),
            (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", WireError::HeaderLine),
            (
                b"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
                WireError::FoldAtStart,
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(read(bytes), err(want), "{}", String::from_utf8_lossy(bytes));
        }
        let mut long_extension =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        long_extension.resize(long_extension.len() + MAX_CHUNK_LINE, b'e');
        assert_eq!(read(&long_extension), err(WireError::ChunkLineTooLong));
        let mut trailers = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        while trailers.len() < 2 * MAX_HEAD {
            trailers.extend_from_slice(b"X-Trailer: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(read(&trailers), err(WireError::TrailersTooLarge));
    }

    /// A status line that could still come waits for more: only bytes that cannot begin
    /// one are refused before the head's end (bad_framing_is_refused has those).
    #[test]
    fn a_status_line_that_could_still_come_waits() {
        for bytes in [
            &b"HTT"[..],
            b"\r\nHTTP/1",
            b"HTTP/2.",
            b"HTTP/1.1 20",
            b"HTTP/1.1 200\r",
            b"HTTP/1.1 099 Low",
        ] {
            assert_eq!(read(bytes), err(ReadError::EndInHead));
        }
    }

    #[test]
    fn an_end_of_stream_before_the_end_is_a_cut() {
        let cases: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
        ];
        for bytes in cases {
            assert_eq!(
                read(bytes),
                err(ReadError::EndInBody),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        for bytes in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nX: y\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
        ] {
            assert_eq!(read(bytes), err(ReadError::EndInHead));
        }
    }

    #[test]
    fn heads_are_capped_at_64_kib_interim_ones_included() {
        let head = |size: usize| {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
            head.resize(size - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        assert_eq!(read(&head(MAX_HEAD)), ok(200, ""));
        assert_eq!(read(&head(MAX_HEAD + 1)), err(ReadError::HeadTooLarge));
        // No line end at all.
        let mut endless = b"HTTP/1.1 200 ".to_vec();
        endless.resize(2 * MAX_HEAD, b'A');
        assert_eq!(read(&endless), err(ReadError::HeadTooLarge));
        let mut interim = Vec::new();
        while interim.len() < MAX_HEAD {
            interim.extend_from_slice(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
        }
        interim.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(read(&interim), err(ReadError::HeadTooLarge));
    }
}
