//! The DNS message format (RFC 1035 section 4, EDNS from RFC 6891): one query written,
//! one response read, record data in presentation format. No I/O here.
//!
//! Our own rather than hickory-proto's `Message`: its encoder and decoder, with the random
//! number generator it draws query IDs from, were about 50 KB of the shipped binary for
//! one question out and one answer section in (BENCHMARKS.md, "Size steps"). This module
//! accepts and refuses exactly what hickory-proto 0.26's decoder did, check for check and
//! in the same order, so that a malformed reply is described the same way as before; the
//! tests in wire.rs hold hickory-proto (still a dependency, for `RecordType`) as the
//! oracle. Compression pointers may only point before the name that holds them, so a
//! name is read in at most as many steps as the message has bytes.

use std::fmt;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::RecordType;

const OPT: u16 = 41;
const SIG: u16 = 24;
const TSIG: u16 = 250;
/// The opcode of RFC 2136 updates, whose records may have empty data.
const UPDATE: u8 = 5;

/// Why a message could not be read, in words a user can act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    EndsEarly,
    DataLength {
        read: usize,
        len: usize,
    },
    PointerForward,
    NameTooLong(usize),
    LabelType(u8),
    EmptyData,
    OptNotRoot,
    DuplicateOpt,
    NotInAdditional(u16),
    /// Anything else a record's data can get wrong (a bad CAA tag, NAPTR flags, SVCB
    /// parameters out of order, ...).
    Record,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::EndsEarly => f.write_str("the message ends early"),
            Malformed::DataLength { read, len } => {
                write!(
                    f,
                    "a record's data is {read} bytes where its length says {len}"
                )
            }
            Malformed::PointerForward => {
                f.write_str("a compressed name points forward or into itself")
            }
            Malformed::NameTooLong(len) => write!(f, "a name of {len} bytes (at most 255)"),
            Malformed::LabelType(code) => write!(f, "a label of unknown type {code:#04x}"),
            Malformed::EmptyData => f.write_str("a record with empty data"),
            Malformed::OptNotRoot => f.write_str("an OPT record not owned by the root name"),
            Malformed::DuplicateOpt => f.write_str("more than one OPT record"),
            Malformed::NotInAdditional(code) => write!(
                f,
                "a {} record outside the additional section",
                RecordType::from(*code)
            ),
            Malformed::Record => f.write_str("a malformed record"),
        }
    }
}

/// One record of the answer section.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// In ASCII, as `Name::to_ascii` wrote it: absolute, unusual bytes escaped.
    pub name: String,
    pub record_type: u16,
    pub ttl: u32,
    /// Presentation format; `UPDATE` for the empty data an update message may carry.
    pub data: String,
}

/// A response, reduced to what svcprobe reads from it.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub is_response: bool,
    pub authoritative: bool,
    pub truncated: bool,
    /// With the upper bits from the OPT record, if there is one.
    pub rcode: u16,
    /// The first question: name (as in `Record::name`) and type.
    pub question: Option<(String, u16)>,
    pub answers: Vec<Record>,
}

/// Writes a query for `name` (a name in ASCII presentation form, `\` escapes allowed, as
/// `Name::from_ascii` read it) with recursion desired and, with `edns_payload`, an OPT
/// record advertising that UDP payload size. `None` when the name is not a valid name.
pub fn encode_query(
    id: u16,
    name: &str,
    record_type: u16,
    edns_payload: Option<u16>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(12 + name.len() + 2 + 4 + 11);
    out.extend_from_slice(&id.to_be_bytes());
    // QR 0, opcode QUERY, RD 1; QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1.
    out.extend_from_slice(&[
        0x01,
        0x00,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns_payload.is_some()),
    ]);
    encode_name(name, &mut out)?;
    out.extend_from_slice(&record_type.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // class IN
    if let Some(payload) = edns_payload {
        // Root owner, type OPT, class = payload size, TTL 0 (no extended rcode, version 0,
        // DO clear), no options.
        out.extend_from_slice(&[0, 0, OPT as u8]);
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    Some(out)
}

/// Where `encode_name` is in a `\` escape: `\c` is the character c, `\DDD` a code point
/// in octal digits (as hickory-proto reads it).
enum Escape {
    None,
    Started,
    Digits1(u32),
    Digits2(u32, u32),
}

/// The wire form of a name in presentation form: labels split at unescaped dots, each
/// checked as `Label::from_ascii` checks it, the whole at most 255 bytes.
fn encode_name(text: &str, out: &mut Vec<u8>) -> Option<()> {
    if text == "." {
        out.push(0);
        return Some(());
    }
    let mut encoded = 1;
    let mut label = String::new();
    let mut escape = Escape::None;
    for c in text.chars() {
        escape = match escape {
            Escape::None => match c {
                '.' => {
                    push_label(&label, &mut encoded, out)?;
                    label.clear();
                    Escape::None
                }
                '\\' => Escape::Started,
                c if !c.is_control() && !c.is_whitespace() => {
                    label.push(c);
                    Escape::None
                }
                _ => return None,
            },
            Escape::Started if c.is_numeric() => Escape::Digits1(c.to_digit(8)?),
            Escape::Started => {
                label.push(c);
                Escape::None
            }
            Escape::Digits1(a) if c.is_numeric() => Escape::Digits2(a, c.to_digit(8)?),
            Escape::Digits2(a, b) if c.is_numeric() => {
                label.push(char::from_u32(a * 64 + b * 8 + c.to_digit(8)?)?);
                Escape::None
            }
            Escape::Digits1(_) | Escape::Digits2(..) => return None,
        };
    }
    if !label.is_empty() {
        push_label(&label, &mut encoded, out)?;
    }
    out.push(0);
    Some(())
}

/// One label: 1 to 63 ASCII letters, digits, `-` (not first), `_`, `.` (escaped), or
/// `*` first.
fn push_label(label: &str, encoded: &mut usize, out: &mut Vec<u8>) -> Option<()> {
    let allowed = |(i, b): (usize, &u8)| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'.')
            || (*b == b'-' && i > 0)
            || (*b == b'*' && i == 0)
    };
    if label.is_empty() || label.len() > 63 || !label.as_bytes().iter().enumerate().all(allowed) {
        return None;
    }
    *encoded += label.len() + 1;
    if *encoded > 255 {
        return None;
    }
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
    Some(())
}

/// Reads a whole response. Like hickory-proto, it reads every record of every section,
/// and ignores bytes after the last one.
pub fn decode(bytes: &[u8]) -> Result<Message, Malformed> {
    let mut r = Reader { bytes, at: 0 };
    let id = r.u16()?;
    let [flags, low] = [r.byte()?, r.byte()?];
    let counts = [r.u16()?, r.u16()?, r.u16()?, r.u16()?];
    let update = (flags >> 3) & 0x0f == UPDATE;
    let mut question = None;
    for _ in 0..counts[0] {
        let name = r.name()?;
        let record_type = r.u16()?;
        let _class = r.u16()?;
        question.get_or_insert((name, record_type));
    }
    let mut sections = Sections {
        update,
        rcode_high: None,
    };
    let answers = sections.read(&mut r, counts[1], false)?;
    sections.read(&mut r, counts[2], false)?;
    sections.read(&mut r, counts[3], true)?;
    Ok(Message {
        id,
        is_response: flags & 0x80 != 0,
        authoritative: flags & 0x04 != 0,
        truncated: flags & 0x02 != 0,
        rcode: u16::from(sections.rcode_high.unwrap_or(0)) << 4 | u16::from(low & 0x0f),
        question,
        answers,
    })
}

/// What the record sections share: whether empty data is allowed, and the OPT record.
struct Sections {
    update: bool,
    /// The upper 8 bits of the response code, from the OPT record once it has been read.
    rcode_high: Option<u8>,
}

impl Sections {
    /// Reads `count` records; keeps those of the answer section (the others are read
    /// for their checks only). OPT, SIG and TSIG belong in the additional section.
    fn read(
        &mut self,
        r: &mut Reader<'_>,
        count: u16,
        additional: bool,
    ) -> Result<Vec<Record>, Malformed> {
        let mut kept = Vec::new();
        for _ in 0..count {
            let record = r.record()?;
            if !self.update && record.record_type != OPT && record.data.is_none() {
                return Err(Malformed::EmptyData);
            }
            match (additional, record.record_type) {
                (false, code @ (OPT | SIG | TSIG)) => return Err(Malformed::NotInAdditional(code)),
                (false, _) => kept.push(Record {
                    name: record.name,
                    record_type: record.record_type,
                    ttl: record.ttl,
                    data: record.data.unwrap_or_else(|| "UPDATE".into()),
                }),
                (true, OPT) if self.rcode_high.is_some() => return Err(Malformed::DuplicateOpt),
                (true, OPT) => self.rcode_high = Some((record.ttl >> 24) as u8),
                (true, _) => {}
            }
        }
        if additional {
            kept.clear();
        }
        Ok(kept)
    }
}

/// A record as read, before its section's checks: `data` is `None` when RDLENGTH is 0.
struct RawRecord {
    name: String,
    record_type: u16,
    ttl: u32,
    data: Option<String>,
}

/// One step of reading a name.
enum Step {
    Root,
    Label,
    Pointer(usize),
}

/// A position in a message. A failed read consumes what hickory-proto's `BinDecoder`
/// consumed (a multi-byte read nothing), because where a record's data reading stops
/// decides which error a reply gets.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.bytes.get(self.at).ok_or(Malformed::EndsEarly)?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        let bytes = self
            .bytes
            .get(self.at..)
            .and_then(|rest| rest.get(..len))
            .ok_or(Malformed::EndsEarly)?;
        self.at += len;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length byte and that many bytes.
    fn string(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.byte()?;
        self.take(usize::from(len))
    }

    fn ipv4(&mut self) -> Result<Ipv4Addr, Malformed> {
        Ok(Ipv4Addr::new(
            self.byte()?,
            self.byte()?,
            self.byte()?,
            self.byte()?,
        ))
    }

    fn ipv6(&mut self) -> Result<Ipv6Addr, Malformed> {
        let mut groups = [0u16; 8];
        for group in &mut groups {
            *group = self.u16()?;
        }
        Ok(Ipv6Addr::from(groups))
    }

    /// A name, following compression pointers: each must point before the start of the
    /// part of the name that holds it, and no label may be read at or past the start of
    /// the part that pointed to it, so the walk ends. The reader itself moves only over
    /// the bytes before the first pointer.
    fn name(&mut self) -> Result<String, Malformed> {
        let mut text = String::new();
        let mut encoded = 1;
        let mut cursor = Reader {
            bytes: self.bytes,
            at: self.at,
        };
        let mut jumped = false;
        let mut part_start = self.at;
        let mut limit = None;
        loop {
            if limit.is_some_and(|limit| cursor.at >= limit) {
                return Err(Malformed::PointerForward);
            }
            let step = match cursor.bytes.get(cursor.at) {
                None => Err(Malformed::EndsEarly),
                Some(0) => cursor.byte().map(|_| Step::Root),
                Some(b) if b & 0xc0 == 0xc0 => {
                    cursor.u16().map(|p| Step::Pointer(usize::from(p & 0x3fff)))
                }
                Some(b) if b & 0xc0 == 0 => cursor.string().and_then(|label| {
                    encoded += label.len() + 1;
                    if encoded > 255 {
                        return Err(Malformed::NameTooLong(label.len()));
                    }
                    push_ascii_label(&mut text, label);
                    Ok(Step::Label)
                }),
                Some(b) => Err(Malformed::LabelType(*b)),
            };
            if !jumped {
                self.at = cursor.at;
            }
            match step? {
                Step::Root => break,
                Step::Label => {}
                Step::Pointer(pointer) if pointer < part_start => {
                    limit = Some(part_start);
                    part_start = pointer;
                    cursor.at = pointer;
                    jumped = true;
                }
                Step::Pointer(_) => return Err(Malformed::PointerForward),
            }
        }
        if text.is_empty() {
            text.push('.');
        }
        Ok(text)
    }

    fn record(&mut self) -> Result<RawRecord, Malformed> {
        let name = self.name()?;
        let record_type = self.u16()?;
        if record_type == OPT && name != "." {
            return Err(Malformed::OptNotRoot);
        }
        let _class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        if len > self.left() {
            return Err(Malformed::DataLength {
                read: self.left(),
                len,
            });
        }
        let data = if len == 0 {
            None
        } else {
            Some(self.data(record_type, len)?)
        };
        Ok(RawRecord {
            name,
            record_type,
            ttl,
            data,
        })
    }

    /// Record data of `len` bytes in presentation format. A reader that stops short of
    /// `len` or runs past it is a length error, whatever else went wrong.
    fn data(&mut self, record_type: u16, len: usize) -> Result<String, Malformed> {
        let start = self.at;
        // ANY, AXFR, IXFR: question types, never record data.
        if matches!(record_type, 251 | 252 | 255) {
            return Err(Malformed::Record);
        }
        let result = match record_type {
            1 => self.ipv4().map(|a| a.to_string()),
            28 => self.ipv6().map(|a| a.to_string()),
            2 | 5 | 12 | 65305 => self.name(),
            6 => self.soa(),
            13 => self.hinfo(),
            15 => self.mx(),
            16 => self.txt(len),
            33 => self.srv(),
            35 => self.naptr(),
            37 => self.cert(len),
            44 => self.sshfp(len),
            52 | 53 => self.tlsa(len),
            62 => self.csync(len),
            64 | 65 => self.service_binding(len),
            257 => self.caa(len),
            OPT => self.opt(len),
            TSIG => self.tsig(len),
            // ZERO: hickory-proto reads nothing (so any data is a length error).
            0 => Ok(String::new()),
            _ => self.take(len).map(base64),
        };
        let read = self.at - start;
        if read != len {
            return Err(Malformed::DataLength { read, len });
        }
        result
    }

    fn soa(&mut self) -> Result<String, Malformed> {
        let mname = self.name()?;
        let rname = self.name()?;
        let serial = self.u32()?;
        // REFRESH, RETRY and EXPIRE as signed numbers, as hickory-proto shows them.
        let [refresh, retry, expire] = [self.u32()? as i32, self.u32()? as i32, self.u32()? as i32];
        let minimum = self.u32()?;
        Ok(format!(
            "{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}"
        ))
    }

    fn hinfo(&mut self) -> Result<String, Malformed> {
        let cpu = self.string()?;
        let os = self.string()?;
        Ok(format!("{} {}", lossy(cpu), lossy(os)))
    }

    fn mx(&mut self) -> Result<String, Malformed> {
        let preference = self.u16()?;
        Ok(format!("{preference} {}", self.name()?))
    }

    /// The strings one after the other, unquoted, as hickory-proto's `Display` writes TXT.
    fn txt(&mut self, len: usize) -> Result<String, Malformed> {
        let start = self.at;
        let mut text = String::new();
        while self.at - start < len {
            text.push_str(&lossy(self.string()?));
        }
        Ok(text)
    }

    fn srv(&mut self) -> Result<String, Malformed> {
        let [priority, weight, port] = [self.u16()?, self.u16()?, self.u16()?];
        Ok(format!("{priority} {weight} {port} {}", self.name()?))
    }

    fn naptr(&mut self) -> Result<String, Malformed> {
        let [order, preference] = [self.u16()?, self.u16()?];
        let flags = self.string()?;
        if !flags.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Malformed::Record);
        }
        let services = self.string()?;
        let regexp = self.string()?;
        let replacement = self.name()?;
        Ok(format!(
            "{order} {preference} \"{}\" \"{}\" \"{}\" {replacement}",
            lossy(flags),
            lossy(services),
            lossy(regexp)
        ))
    }

    fn cert(&mut self, len: usize) -> Result<String, Malformed> {
        if len <= 5 {
            return Err(Malformed::DataLength { read: len, len: 6 });
        }
        let cert_type = self.u16()?;
        let key_tag = self.u16()?;
        let algorithm = self.byte()?;
        let data = self.take(len - 5)?;
        Ok(format!(
            "{} {key_tag} {} {}",
            cert_type_name(cert_type),
            algorithm_name(algorithm),
            base64(data)
        ))
    }

    fn sshfp(&mut self, len: usize) -> Result<String, Malformed> {
        let [algorithm, fingerprint_type] = [self.byte()?, self.byte()?];
        let fingerprint = self.take(fixed_len(len, 2)?)?;
        Ok(format!(
            "{algorithm} {fingerprint_type} {}",
            hex(fingerprint)
        ))
    }

    /// TLSA and SMIMEA.
    fn tlsa(&mut self, len: usize) -> Result<String, Malformed> {
        let [usage, selector, matching] = [self.byte()?, self.byte()?, self.byte()?];
        let data = self.take(fixed_len(len, 3)?)?;
        Ok(format!("{usage} {selector} {matching} {}", hex(data)))
    }

    fn csync(&mut self, len: usize) -> Result<String, Malformed> {
        let serial = self.u32()?;
        let flags = self.u16()?;
        if flags & 0b1111_1100 != 0 {
            return Err(Malformed::Record);
        }
        let bitmap = self.take(fixed_len(len, 6)?)?;
        let mut text = format!("{serial} {flags}");
        for code in type_bitmap(bitmap)? {
            let _ = write!(text, " {}", RecordType::from(code));
        }
        Ok(text)
    }

    /// SVCB and HTTPS (RFC 9460): priority, target, then each parameter as `key=value`.
    fn service_binding(&mut self, len: usize) -> Result<String, Malformed> {
        let start = self.at;
        let priority = self.u16()?;
        let mut text = format!("{priority} {}", self.name()?);
        let remainder = |r: &Self| {
            let read = r.at - start;
            len.checked_sub(read)
                .ok_or(Malformed::DataLength { read, len: read })
        };
        let mut last_key = None;
        while remainder(self)? >= 4 {
            let key = self.u16()?;
            let value_len = usize::from(self.u16()?);
            if value_len > self.left() {
                return Err(Malformed::DataLength {
                    read: self.left(),
                    len: value_len,
                });
            }
            let value = svc_param(key, self.take(value_len)?)?;
            if last_key.is_some_and(|last| last >= key) {
                return Err(Malformed::Record);
            }
            last_key = Some(key);
            let _ = write!(text, " {}={value}", svc_key(key));
        }
        Ok(text)
    }

    fn caa(&mut self, len: usize) -> Result<String, Malformed> {
        let flags = self.byte()?;
        let tag_len = self.byte()?;
        // hickory-proto's words for data shorter than its tag: "2 bytes" (its chained
        // subtraction reports the last operand).
        let value_len = len
            .checked_sub(usize::from(tag_len) + 2)
            .ok_or(Malformed::DataLength {
                read: 2,
                len: usize::from(tag_len) + 2,
            })?;
        if !(1..=15).contains(&tag_len) {
            return Err(Malformed::Record);
        }
        let mut tag = String::new();
        for _ in 0..tag_len {
            let c = self.byte()?;
            if !c.is_ascii_alphanumeric() {
                return Err(Malformed::Record);
            }
            tag.push(char::from(c));
        }
        let value = self.take(value_len)?;
        Ok(format!("{flags} {tag} \"{}\"", lossy(value)))
    }

    /// The OPT record's options: checked (a client subnet option must be well formed),
    /// not shown. An option cut off by the end of the data is dropped, not an error.
    fn opt(&mut self, len: usize) -> Result<String, Malformed> {
        let start = self.at;
        while self.at - start < len {
            let code = self.u16()?;
            if self.at - start >= len {
                break;
            }
            let option_len = usize::from(self.u16()?);
            if option_len > len {
                return Err(Malformed::DataLength {
                    read: len,
                    len: option_len,
                });
            }
            let available = len.saturating_sub(self.at - start);
            if option_len > available {
                self.take(available)?;
                break;
            }
            let data = self.take(option_len)?;
            if code == 8 {
                client_subnet(data)?;
            }
        }
        Ok(String::new())
    }

    /// A TSIG record's fields, checked against its length; never shown.
    fn tsig(&mut self, len: usize) -> Result<String, Malformed> {
        let end = self.at + len;
        let _algorithm = self.name()?;
        let _time_high = self.u16()?;
        let _time_low = self.u32()?;
        let _fudge = self.u16()?;
        let mac_len = usize::from(self.u16()?);
        if self.at + mac_len + 6 > end {
            return Err(Malformed::EndsEarly);
        }
        self.take(mac_len)?;
        let _original_id = self.u16()?;
        let _error = self.u16()?;
        let other_len = usize::from(self.u16()?);
        if self.at + other_len != end {
            return Err(Malformed::EndsEarly);
        }
        self.take(other_len)?;
        Ok(String::new())
    }
}

/// `len` less the fixed part of a record's data (read before this is checked).
fn fixed_len(len: usize, fixed: usize) -> Result<usize, Malformed> {
    len.checked_sub(fixed).ok_or(Malformed::DataLength {
        read: fixed,
        len: fixed,
    })
}

/// The types of a CSYNC type bitmap (RFC 4034 section 4.1.2): window, length, bits.
fn type_bitmap(bytes: &[u8]) -> Result<std::collections::BTreeSet<u16>, Malformed> {
    enum State {
        Window,
        Length(u8),
        Bits { window: u8, len: u8, left: u8 },
    }
    let mut types = std::collections::BTreeSet::new();
    let mut state = State::Window;
    for &byte in bytes {
        state = match state {
            State::Window => State::Length(byte),
            State::Length(window) => State::Bits {
                window,
                len: byte,
                left: byte,
            },
            State::Bits { window, len, left } => {
                for bit in 0..8u8 {
                    if byte << bit & 0x80 != 0 {
                        let low = (len - left)
                            .checked_mul(8)
                            .and_then(|v| v.checked_add(bit))
                            .ok_or(Malformed::Record)?;
                        types.insert(u16::from(window) << 8 | u16::from(low));
                    }
                }
                match left.checked_sub(1).ok_or(Malformed::Record)? {
                    0 => State::Window,
                    left => State::Bits { window, len, left },
                }
            }
        };
    }
    Ok(types)
}

/// One SVCB parameter's value, as hickory-proto's `Display` writes it (lists end in `,`).
fn svc_param(key: u16, value: &[u8]) -> Result<String, Malformed> {
    let mut r = Reader {
        bytes: value,
        at: 0,
    };
    let mut text = String::new();
    match key {
        0 | 1 if value.is_empty() => return Err(Malformed::Record),
        0 => {
            while r.left() > 0 {
                let _ = write!(text, "{},", svc_key(r.u16()?));
            }
        }
        1 => {
            while r.left() > 0 {
                let id = std::str::from_utf8(r.string()?).map_err(|_| Malformed::Record)?;
                let _ = write!(text, "{id},");
            }
        }
        2 if !value.is_empty() => {
            return Err(Malformed::DataLength {
                read: value.len(),
                len: 0,
            })
        }
        2 => {}
        3 => text = r.u16()?.to_string(),
        4 => {
            while r.left() > 0 {
                let _ = write!(text, "{},", r.ipv4()?);
            }
        }
        5 => text = format!("\"{}\"", base64(value)),
        6 => {
            while r.left() > 0 {
                let _ = write!(text, "{},", r.ipv6()?);
            }
        }
        _ => text = format!("\"{}\",", lossy(value)),
    }
    Ok(text)
}

/// An SVCB parameter key's name (RFC 9460 section 14.3.2).
fn svc_key(key: u16) -> String {
    match key {
        0 => "mandatory".into(),
        1 => "alpn".into(),
        2 => "no-default-alpn".into(),
        3 => "port".into(),
        4 => "ipv4hint".into(),
        5 => "ech".into(),
        6 => "ipv6hint".into(),
        65280.. => format!("key{key}"),
        _ => format!("unknown{key}"),
    }
}

/// Checks an EDNS client subnet option (RFC 7871) as hickory-proto does: a known
/// family, and no more address bytes than the family has.
fn client_subnet(data: &[u8]) -> Result<(), Malformed> {
    let mut r = Reader { bytes: data, at: 0 };
    let octets = match r.u16()? {
        1 => 4,
        2 => 16,
        _ => return Err(Malformed::Record),
    };
    let source_prefix = r.byte()?;
    let _scope_prefix = r.byte()?;
    let address_len = usize::from(source_prefix.div_ceil(8));
    if address_len > octets {
        return Err(Malformed::DataLength {
            read: octets,
            len: address_len,
        });
    }
    r.take(address_len).map(|_| ())
}

/// A CERT type (RFC 4398) as hickory-proto's `Display` names it (its `Debug` form).
fn cert_type_name(code: u16) -> String {
    let name = match code {
        0 => "Reserved0",
        1 => "PKIX",
        2 => "SPKI",
        3 => "PGP",
        4 => "IPKIX",
        5 => "ISPKI",
        6 => "IPGP",
        7 => "ACPKIX",
        8 => "IACPKIX",
        253 => "URI",
        254 => "OID",
        255 => "Reserved255",
        65535 => "Reserved65535",
        65280.. => return format!("Experimental({code})"),
        _ => return format!("Unassigned({code})"),
    };
    name.into()
}

/// A DNSSEC algorithm number as hickory-proto's `Display` names it in CERT data.
fn algorithm_name(code: u8) -> String {
    let name = match code {
        0 | 9 | 11 => return format!("Reserved({code})"),
        1 => "RSAMD5",
        2 => "DH",
        3 => "DSA",
        4 => "ECC",
        5 => "RSASHA1",
        6 => "DSANSEC3SHA1",
        7 => "RSASHA1NSEC3SHA1",
        8 => "RSASHA256",
        10 => "RSASHA512",
        12 => "ECCGOST",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        16 => "ED448",
        17 => "SM2SM3",
        23 => "ECCGOST12",
        252 => "INDIRECT",
        253 => "PRIVATEDNS",
        254 => "PRIVATEOID",
        _ => return format!("Unassigned({code})"),
    };
    name.into()
}

/// A label as `Label::write_ascii` writes it: letters, digits, `_`, `-` (not first) and
/// `*` (first) as they are, other printable ASCII after a `\`, any other byte as `\`
/// and three octal digits (hickory-proto's choice; dig writes decimal).
fn push_ascii_label(text: &mut String, label: &[u8]) {
    for (i, &b) in label.iter().enumerate() {
        let plain =
            b.is_ascii_alphanumeric() || b == b'_' || (b == b'-' && i > 0) || (b == b'*' && i == 0);
        if plain {
            text.push(char::from(b));
        } else if b > 0x20 && b < 0x7f {
            text.push('\\');
            text.push(char::from(b));
        } else {
            text.push('\\');
            for shift in [6, 3, 0] {
                text.push(char::from(b'0' + (b >> shift & 7)));
            }
        }
    }
    text.push('.');
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Lowercase hex, as hickory-proto writes SSHFP and TLSA data.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

/// Standard base64 with padding (RFC 4648 section 4), as the presentation format of
/// CERT, OPENPGPKEY and unknown record data uses it.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message as HickoryMessage, MessageType};
    use hickory_proto::serialize::binary::DecodeError;

    /// What svcprobe read from a response, the fields of `Message`.
    type View = (
        u16,
        bool,
        bool,
        bool,
        u16,
        Option<(String, u16)>,
        Vec<Record>,
    );

    fn ours(bytes: &[u8]) -> Result<View, String> {
        decode(bytes)
            .map(|m| {
                let answers = m.answers;
                let flags = (m.id, m.is_response, m.authoritative, m.truncated, m.rcode);
                (
                    flags.0, flags.1, flags.2, flags.3, flags.4, m.question, answers,
                )
            })
            .map_err(|e| e.to_string())
    }

    /// The oracle: hickory-proto 0.26's decoder, read as wire.rs read it before
    /// message.rs (its error words, names with `to_ascii`, data with `Display`).
    fn hickory(bytes: &[u8]) -> Result<View, String> {
        let m = HickoryMessage::from_vec(bytes).map_err(|e| hickory_error(&e))?;
        let meta = &m.metadata;
        Ok((
            meta.id,
            meta.message_type == MessageType::Response,
            meta.authoritative,
            meta.truncation,
            u16::from(meta.response_code),
            m.queries
                .first()
                .map(|q| (q.name.to_ascii(), u16::from(q.query_type))),
            m.answers
                .iter()
                .map(|r| Record {
                    name: r.name.to_ascii(),
                    record_type: u16::from(r.record_type()),
                    ttl: r.ttl,
                    data: r.data.to_string(),
                })
                .collect(),
        ))
    }

    /// wire.rs's words for hickory-proto's decode errors, before message.rs.
    fn hickory_error(error: &DecodeError) -> String {
        match error {
            DecodeError::InsufficientBytes => Malformed::EndsEarly,
            DecodeError::IncorrectRDataLengthRead { read, len, .. } => Malformed::DataLength {
                read: *read,
                len: *len,
            },
            DecodeError::PointerNotPriorToLabel { .. }
            | DecodeError::LabelOverlapsWithOther { .. } => Malformed::PointerForward,
            DecodeError::DomainNameTooLong(len) => Malformed::NameTooLong(*len),
            DecodeError::UnrecognizedLabelCode(code) => Malformed::LabelType(*code),
            DecodeError::InvalidEmptyRecord => Malformed::EmptyData,
            DecodeError::EdnsNameNotRoot(_) => Malformed::OptNotRoot,
            DecodeError::DuplicateEdns => Malformed::DuplicateOpt,
            DecodeError::RecordNotInAdditionalSection(t) => {
                Malformed::NotInAdditional(u16::from(*t))
            }
            _ => Malformed::Record,
        }
        .to_string()
    }

    /// Same answer as the oracle: data shown in Unicode by hickory (`xn--` labels) is
    /// compared by the other fields only.
    fn assert_same(bytes: &[u8]) {
        let (ours, hickory) = (ours(bytes), hickory(bytes));
        match (&ours, &hickory) {
            (Ok(o), Ok(h)) => {
                assert_eq!(o.0..=o.0, h.0..=h.0);
                assert_eq!(
                    (o.1, o.2, o.3, o.4, &o.5),
                    (h.1, h.2, h.3, h.4, &h.5),
                    "{bytes:02x?}"
                );
                assert_eq!(o.6.len(), h.6.len(), "{bytes:02x?}");
                for (a, b) in o.6.iter().zip(&h.6) {
                    assert_eq!(
                        (&a.name, a.record_type, a.ttl),
                        (&b.name, b.record_type, b.ttl)
                    );
                    if !a.data.to_ascii_lowercase().contains("xn--") {
                        assert_eq!(a.data, b.data, "{bytes:02x?}");
                    }
                }
            }
            _ => assert_eq!(
                ours.err(),
                hickory.err(),
                "{bytes:02x?} {:?}",
                HickoryMessage::from_vec(bytes).err()
            ),
        }
    }

    /// A deterministic stream of numbers for the mutations below (xorshift64).
    fn next(state: &mut u64) -> usize {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state as usize
    }

    /// Every reply of the fuzz corpus, and 24 mutations of each (cut short, a byte
    /// changed, a compression pointer planted, a piece repeated), decode as with
    /// hickory-proto: the same fields, the same records, the same error.
    #[test]
    fn decodes_what_hickory_decoded_and_refuses_what_it_refused() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/dns_message");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(
            seeds.len() > 100,
            "the corpus is in fuzz/corpus/dns_message"
        );
        seeds.sort();
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let mut cases = 0;
        for seed in &seeds {
            assert_same(seed);
            for round in 0..24 {
                let mut bytes = seed.clone();
                let len = bytes.len().max(1);
                match round % 4 {
                    0 => bytes.truncate(next(&mut state) % len),
                    1 if !bytes.is_empty() => {
                        bytes[next(&mut state) % len] = next(&mut state) as u8
                    }
                    2 if bytes.len() > 1 => {
                        let at = next(&mut state) % (len - 1);
                        bytes[at] = 0xc0 | (next(&mut state) as u8 & 0x3f);
                        bytes[at + 1] = next(&mut state) as u8;
                    }
                    _ => {
                        let from = next(&mut state) % len;
                        let to = (from + next(&mut state) % 32).min(bytes.len());
                        let piece = bytes.get(from..to).unwrap_or_default().to_vec();
                        let at = next(&mut state) % len;
                        bytes.splice(at..at, piece);
                    }
                }
                assert_same(&bytes);
                cases += 1;
            }
        }
        assert!(cases > 2000);
    }
}
