//! DNS messages on the wire: build one query, read one response. No I/O here.
//!
//! hickory-proto does the encoding; this module pins down the few things a diagnostic
//! tool must get exactly right: the IDs, matching a response to its question, the
//! response-code names people know from dig (`NXDOMAIN`, not "Non-Existent Domain"),
//! and records in presentation format.
//!
//! Names are only ever ASCII here (`Name::from_ascii`, `Name::to_ascii`): nothing in this
//! module may format a hickory `Name`, `RData`, `ProtoError` or `DecodeError` with
//! `Display` or `Debug`, because those turn `xn--` labels into Unicode through the `idna`
//! crate, whose UTS #46 and normalization tables were about 160 KB of the shipped binary
//! (BENCHMARKS.md). Record data and decode errors are written out below instead.

use std::fmt;
use std::fmt::Write as _;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::svcb::SvcParamValue;
use hickory_proto::rr::rdata::{HTTPS, SMIMEA, SVCB};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::DecodeError;

use crate::report::{AnswerRecord, Rcode};

/// One question: an absolute name and a record type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// Absolute, with the trailing dot, as sent.
    pub name: String,
    pub record_type: RecordType,
}

/// EDNS payload size advertised when `options edns0` is set (the DNS flag day value).
const EDNS_PAYLOAD: u16 = 1232;

/// A decoded response, reduced to what the report and the search walk need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub rcode: Rcode,
    pub truncated: bool,
    pub authoritative: bool,
    pub answers: Vec<AnswerRecord>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a name a user typed cannot be looked up.
#[derive(Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// Not ASCII: glibc refuses the name without a query (no IDNA unless the program asks
    /// for it), musl sends the raw UTF-8 bytes; the IDNA form is what to type instead.
    /// svcprobe does not compute it: UTS #46 needs Unicode tables as large as a sixth of
    /// the binary, for a name no Kubernetes object can have.
    NotAscii,
    EmptyLabel,
    LabelTooLong(String),
    TooLong,
    BadCharacter(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("the name is empty"),
            NameError::NotAscii => f.write_str(
                "the name is not ASCII: glibc refuses it without a query (no IDNA unless a \
                 program asks for it) and musl sends its UTF-8 bytes as they are; look up its \
                 IDNA form (`xn--...`, as `idn2 NAME` prints it) instead",
            ),
            NameError::EmptyLabel => f.write_str("the name has an empty label (`..`)"),
            NameError::LabelTooLong(label) => {
                write!(f, "the label `{label}` is longer than 63 characters")
            }
            NameError::TooLong => f.write_str("the name is longer than 253 characters"),
            NameError::BadCharacter(c) => write!(
                f,
                "{c:?} is not a letter, digit, '-', '_' or '.', so it is not a DNS name"
            ),
        }
    }
}

/// Checks a name the user typed and returns it in absolute form (trailing dot). Both C
/// libraries send names with `_` (`my_svc`, `_http._tcp.hostnames`) as they are, so
/// those pass; what no library would send as typed is an error that says why.
pub fn absolute_name(name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if !name.is_ascii() {
        return Err(NameError::NotAscii);
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.len() > 253 {
        return Err(NameError::TooLong);
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong(label.to_string()));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(NameError::BadCharacter(c));
        }
    }
    Ok(format!("{bare}."))
}

/// Encodes a query with recursion desired, as both C libraries send it.
pub fn encode_query(id: u16, question: &Question, edns: bool) -> Result<Vec<u8>, WireError> {
    let name = Name::from_ascii(&question.name)
        .map_err(|_| WireError(format!("invalid name `{}`", question.name)))?;
    let mut message = Message::query();
    message.metadata.id = id;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name, question.record_type));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(opt);
    }
    message
        .to_vec()
        .map_err(|_| WireError(format!("cannot encode a query for `{}`", question.name)))
}

/// The message ID of a datagram, if it is long enough to have one: lets the caller tie
/// an undecodable answer to the question it was meant for.
pub fn message_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Decodes a response to `question` sent with `id`. A reply for another question, or one
/// that is not a response, is an error: a confused or spoofing server is evidence too.
pub fn decode_response(bytes: &[u8], id: u16, question: &Question) -> Result<Response, WireError> {
    let message = Message::from_vec(bytes)
        .map_err(|e| WireError(format!("undecodable response: {}", decode_error(&e))))?;
    let metadata = &message.metadata;
    if metadata.id != id || metadata.message_type != MessageType::Response {
        return Err(WireError("reply is not a response to this query".into()));
    }
    // Both C libraries match a reply to its query by the question section too: a reply
    // without one is not an answer to anything.
    let same_question = message.queries.first().is_some_and(|q| {
        q.query_type == question.record_type
            && q.name.to_ascii().eq_ignore_ascii_case(&question.name)
    });
    if !same_question {
        return Err(WireError("reply does not repeat this question".into()));
    }
    Ok(Response {
        rcode: rcode(metadata.response_code),
        truncated: metadata.truncation,
        authoritative: metadata.authoritative,
        answers: message
            .answers
            .iter()
            .map(|r| AnswerRecord {
                name: r.name.to_ascii(),
                record_type: r.record_type().to_string(),
                ttl: r.ttl,
                data: presentation(&r.data),
            })
            .collect(),
    })
}

/// Why a response could not be decoded, in words (see the module comment for why not
/// `DecodeError`'s own `Display`).
fn decode_error(error: &DecodeError) -> String {
    match error {
        DecodeError::InsufficientBytes => "the message ends early".into(),
        DecodeError::IncorrectRDataLengthRead { read, len, .. } => {
            format!("a record's data is {read} bytes where its length says {len}")
        }
        DecodeError::PointerNotPriorToLabel { .. } | DecodeError::LabelOverlapsWithOther { .. } => {
            "a compressed name points forward or into itself".into()
        }
        DecodeError::LabelBytesTooLong(len) => format!("a label of {len} bytes (at most 63)"),
        DecodeError::DomainNameTooLong(len) => format!("a name of {len} bytes (at most 255)"),
        DecodeError::UnrecognizedLabelCode(code) => format!("a label of unknown type {code:#04x}"),
        DecodeError::InvalidEmptyRecord => "a record with empty data".into(),
        DecodeError::EdnsNameNotRoot(_) => "an OPT record not owned by the root name".into(),
        DecodeError::DuplicateEdns => "more than one OPT record".into(),
        DecodeError::RecordAfterSig => "a record after the TSIG or SIG(0) record".into(),
        DecodeError::RecordNotInAdditionalSection(record_type) => {
            format!("a {record_type} record outside the additional section")
        }
        _ => "a malformed record".into(),
    }
}

/// Record data in presentation format, as hickory's `Display` writes it but with names in
/// ASCII (`xn--` labels stay as sent, as in the record's owner name and as dig shows them).
fn presentation(data: &RData) -> String {
    match data {
        RData::A(a) => a.to_string(),
        RData::AAAA(aaaa) => aaaa.to_string(),
        RData::CNAME(name) => name.0.to_ascii(),
        RData::NS(name) => name.0.to_ascii(),
        RData::PTR(name) => name.0.to_ascii(),
        RData::ANAME(name) => name.0.to_ascii(),
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange.to_ascii()),
        RData::SRV(srv) => format!(
            "{} {} {} {}",
            srv.priority,
            srv.weight,
            srv.port,
            srv.target.to_ascii()
        ),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            soa.mname.to_ascii(),
            soa.rname.to_ascii(),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::NAPTR(naptr) => format!(
            "{} {} \"{}\" \"{}\" \"{}\" {}",
            naptr.order,
            naptr.preference,
            String::from_utf8_lossy(&naptr.flags),
            String::from_utf8_lossy(&naptr.services),
            String::from_utf8_lossy(&naptr.regexp),
            naptr.replacement.to_ascii()
        ),
        RData::SVCB(svcb) | RData::HTTPS(HTTPS(svcb)) => service_binding(svcb),
        RData::TXT(txt) => txt.to_string(),
        RData::CAA(caa) => caa.to_string(),
        RData::CERT(cert) => format!(
            "{} {} {} {}",
            cert.cert_type,
            cert.key_tag,
            cert.algorithm,
            base64(&cert.cert_data)
        ),
        RData::CSYNC(csync) => csync.to_string(),
        RData::HINFO(hinfo) => hinfo.to_string(),
        RData::NULL(null) => base64(&null.anything),
        RData::OPENPGPKEY(key) => base64(&key.public_key),
        RData::SSHFP(sshfp) => format!(
            "{} {} {}",
            u8::from(sshfp.algorithm),
            u8::from(sshfp.fingerprint_type),
            hex(&sshfp.fingerprint)
        ),
        RData::TLSA(tlsa) | RData::SMIMEA(SMIMEA(tlsa)) => format!(
            "{} {} {} {}",
            u8::from(tlsa.cert_usage),
            u8::from(tlsa.selector),
            u8::from(tlsa.matching),
            hex(&tlsa.cert_data)
        ),
        RData::Unknown { rdata, .. } => base64(&rdata.anything),
        RData::Update0(_) => "UPDATE".into(),
        // OPT, TSIG and SIG(0) are refused outside the additional section when the
        // message is decoded, and only answers are shown.
        other => format!("({} data not shown)", other.record_type()),
    }
}

/// SVCB and HTTPS data: priority, target, then each parameter as `key=value`.
fn service_binding(svcb: &SVCB) -> String {
    let mut text = format!("{} {}", svcb.svc_priority, svcb.target_name.to_ascii());
    for (key, value) in &svcb.svc_params {
        let _ = write!(text, " {key}=");
        match value {
            SvcParamValue::Mandatory(keys) => keys.0.iter().for_each(|k| {
                let _ = write!(text, "{k},");
            }),
            SvcParamValue::Alpn(ids) => ids.0.iter().for_each(|id| {
                let _ = write!(text, "{id},");
            }),
            SvcParamValue::NoDefaultAlpn => {}
            SvcParamValue::Port(port) => {
                let _ = write!(text, "{port}");
            }
            SvcParamValue::Ipv4Hint(hint) => hint.0.iter().for_each(|ip| {
                let _ = write!(text, "{ip},");
            }),
            SvcParamValue::EchConfigList(ech) => {
                let _ = write!(text, "\"{}\"", base64(&ech.0));
            }
            SvcParamValue::Ipv6Hint(hint) => hint.0.iter().for_each(|ip| {
                let _ = write!(text, "{ip},");
            }),
            SvcParamValue::Unknown(bytes) => {
                let _ = write!(text, "\"{}\",", String::from_utf8_lossy(&bytes.0));
            }
        }
    }
    text
}

/// Lowercase hex, as hickory writes SSHFP and TLSA data (its own encoder links a
/// general-purpose encoding crate for five record types).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// Standard base64 with padding (RFC 4648 section 4), as the presentation format of
/// CERT, OPENPGPKEY and unknown record data uses it.
fn base64(bytes: &[u8]) -> String {
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

/// The records of `question`'s type that answer it: owned by the name asked, or by the
/// target of a CNAME chain that starts there. glibc skips any other record in the answer
/// section, so a reply that holds only records of another name answers nothing.
pub fn usable_records(answers: &[AnswerRecord], question: &Question) -> Vec<AnswerRecord> {
    let wanted = question.record_type.to_string();
    let mut owner = question.name.clone();
    let mut usable = Vec::new();
    for record in answers {
        if !record.name.eq_ignore_ascii_case(&owner) {
            continue;
        }
        if record.record_type == wanted {
            usable.push(record.clone());
        } else if record.record_type == "CNAME" {
            owner = record.data.clone();
        }
    }
    usable
}

/// The response code as the report names it.
pub fn rcode(code: ResponseCode) -> Rcode {
    match code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::FormErr => Rcode::FormErr,
        ResponseCode::ServFail => Rcode::ServFail,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::NotImp => Rcode::NotImp,
        ResponseCode::Refused => Rcode::Refused,
        other => Rcode::Other(u16::from(other)),
    }
}

/// The in-addr.arpa / ip6.arpa name for an address, for PTR lookups of an IP argument.
pub fn reverse_name(addr: std::net::IpAddr) -> String {
    match addr {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        std::net::IpAddr::V6(v6) => {
            let mut name = String::with_capacity(73);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            name.push_str("ip6.arpa.");
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(name: &str, record_type: RecordType) -> Question {
        Question {
            name: name.into(),
            record_type,
        }
    }

    /// A real BIND answer for `hostnames.default.svc.cluster.local A`, captured with dig.
    const BIND_ANSWER: &[u8] = &[
        0x12, 0x34, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 9, b'h', b'o',
        b's', b't', b'n', b'a', b'm', b'e', b's', 7, b'd', b'e', b'f', b'a', b'u', b'l', b't', 3,
        b's', b'v', b'c', 7, b'c', b'l', b'u', b's', b't', b'e', b'r', 5, b'l', b'o', b'c', b'a',
        b'l', 0, 0x00, 0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x1e, 0x00, 0x04, 10, 0, 1, 175,
    ];

    #[test]
    fn decodes_a_real_answer() {
        let q = question("hostnames.default.svc.cluster.local.", RecordType::A);
        let response = decode_response(BIND_ANSWER, 0x1234, &q).unwrap();
        assert_eq!(response.rcode, Rcode::NoError);
        assert!(response.authoritative);
        assert_eq!(
            response.answers,
            vec![AnswerRecord {
                name: "hostnames.default.svc.cluster.local.".into(),
                record_type: "A".into(),
                ttl: 30,
                data: "10.0.1.175".into(),
            }]
        );
    }

    #[test]
    fn rejects_mismatched_ids_questions_and_garbage() {
        let q = question("hostnames.default.svc.cluster.local.", RecordType::A);
        assert!(decode_response(BIND_ANSWER, 0x4321, &q).is_err());
        let other = question("other.default.svc.cluster.local.", RecordType::A);
        assert!(decode_response(BIND_ANSWER, 0x1234, &other).is_err());
        let aaaa = question("hostnames.default.svc.cluster.local.", RecordType::AAAA);
        assert!(decode_response(BIND_ANSWER, 0x1234, &aaaa).is_err());
        for len in 0..BIND_ANSWER.len() {
            let _ = decode_response(&BIND_ANSWER[..len], 0x1234, &q);
        }
        assert_eq!(
            decode_response(&BIND_ANSWER[..BIND_ANSWER.len() - 1], 0x1234, &q),
            Err(WireError(
                "undecodable response: a record's data is 3 bytes where its length says 4".into()
            ))
        );
        assert_eq!(
            decode_response(&BIND_ANSWER[..20], 0x1234, &q),
            Err(WireError(
                "undecodable response: the message ends early".into()
            ))
        );
        assert!(decode_response(b"HTTP/1.1 400 Bad Request\r\n", 0x4854, &q).is_err());
    }

    #[test]
    fn a_query_round_trips_through_hickory() {
        let q = question("kubernetes.default.svc.cluster.local.", RecordType::AAAA);
        let bytes = encode_query(7, &q, true).unwrap();
        let parsed = Message::from_vec(&bytes).unwrap();
        assert_eq!(parsed.metadata.id, 7);
        assert!(parsed.metadata.recursion_desired);
        assert_eq!(parsed.queries[0].query_type, RecordType::AAAA);
        assert_eq!(parsed.edns.map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
        assert!(Message::from_vec(&encode_query(7, &q, false).unwrap())
            .unwrap()
            .edns
            .is_none());
    }

    /// BIND_ANSWER with its question section cut out (QDCOUNT 0), the answer's owner
    /// name written out instead of pointing at the question.
    fn without_question() -> Vec<u8> {
        let mut bytes = BIND_ANSWER[..12].to_vec();
        bytes[5] = 0;
        bytes.extend_from_slice(&BIND_ANSWER[12..49]);
        bytes.extend_from_slice(&BIND_ANSWER[55..]);
        bytes
    }

    #[test]
    fn a_reply_without_its_question_is_not_an_answer() {
        let q = question("hostnames.default.svc.cluster.local.", RecordType::A);
        let bytes = without_question();
        let parsed = Message::from_vec(&bytes).unwrap();
        assert!(parsed.queries.is_empty());
        assert_eq!(parsed.answers.len(), 1);
        assert!(decode_response(&bytes, 0x1234, &q).is_err());
    }

    #[test]
    fn records_of_another_owner_answer_nothing() {
        let record = |name: &str, record_type: &str, data: &str| AnswerRecord {
            name: name.into(),
            record_type: record_type.into(),
            ttl: 30,
            data: data.into(),
        };
        let q = question("hostnames.default.svc.cluster.local.", RecordType::A);
        let stray = [record("other.example.", "A", "10.9.9.9")];
        assert!(usable_records(&stray, &q).is_empty());
        let chain = [
            record(
                "HOSTNAMES.default.svc.cluster.local.",
                "CNAME",
                "real.example.",
            ),
            record("other.example.", "A", "10.9.9.9"),
            record("real.example.", "A", "10.0.1.175"),
            record("real.example.", "AAAA", "fd00::1"),
        ];
        assert_eq!(
            usable_records(&chain, &q),
            vec![record("real.example.", "A", "10.0.1.175")]
        );
    }

    /// Record data as hickory's own `Display` writes it is the oracle (it may run in tests:
    /// only the shipped binary must not link it); names are ASCII, `xn--` labels included.
    #[test]
    fn record_data_is_written_as_hickory_writes_it_with_ascii_names() {
        use hickory_proto::rr::rdata::svcb::{
            Alpn, EchConfigList, IpHint, Mandatory, SvcParamKey, Unknown,
        };
        use hickory_proto::rr::rdata::{cert, sshfp, tlsa, CNAME, CSYNC, HINFO, MX, NAPTR};
        use hickory_proto::rr::rdata::{A, AAAA, CERT, NS, NULL, OPENPGPKEY, PTR, SOA, SRV};
        use hickory_proto::rr::rdata::{SSHFP, TLSA, TXT};

        let name = |text: &str| Name::from_ascii(text).unwrap();
        let tlsa = || {
            TLSA::new(
                tlsa::CertUsage::from(3),
                tlsa::Selector::from(1),
                tlsa::Matching::from(1),
                vec![0xde, 0xad, 0xbe, 0xef],
            )
        };
        let svcb = SVCB::new(
            1,
            name("svc.example."),
            vec![
                (
                    SvcParamKey::Mandatory,
                    SvcParamValue::Mandatory(Mandatory(vec![SvcParamKey::Alpn])),
                ),
                (
                    SvcParamKey::Alpn,
                    SvcParamValue::Alpn(Alpn(vec!["h2".into(), "h3".into()])),
                ),
                (SvcParamKey::NoDefaultAlpn, SvcParamValue::NoDefaultAlpn),
                (SvcParamKey::Port, SvcParamValue::Port(8443)),
                (
                    SvcParamKey::Ipv4Hint,
                    SvcParamValue::Ipv4Hint(IpHint(vec![A::new(10, 0, 1, 175)])),
                ),
                (
                    SvcParamKey::EchConfigList,
                    SvcParamValue::EchConfigList(EchConfigList(vec![1, 2, 3, 4])),
                ),
                (
                    SvcParamKey::Ipv6Hint,
                    SvcParamValue::Ipv6Hint(IpHint(vec![AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)])),
                ),
                (
                    SvcParamKey::Key(65280),
                    SvcParamValue::Unknown(Unknown(b"x".to_vec())),
                ),
            ],
        );
        let all = [
            RData::A(A::new(10, 0, 1, 175)),
            RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            RData::CNAME(CNAME(name("hostnames.default.svc.cluster.local."))),
            RData::NS(NS(name("ns.example."))),
            RData::PTR(PTR(name("hostnames.default.svc.cluster.local."))),
            RData::MX(MX::new(10, name("mail.example."))),
            RData::SRV(SRV::new(
                0,
                100,
                80,
                name("hostnames.default.svc.cluster.local."),
            )),
            RData::SOA(SOA::new(
                name("ns.dns.cluster.local."),
                name("hostmaster.cluster.local."),
                1764460800,
                7200,
                1800,
                86400,
                30,
            )),
            RData::NAPTR(NAPTR::new(
                100,
                10,
                b"S".to_vec().into(),
                b"SIP+D2U".to_vec().into(),
                b"".to_vec().into(),
                name("_sip._udp.example."),
            )),
            RData::TXT(TXT::new(vec!["v=spf1".into(), " -all".into()])),
            RData::CERT(CERT::new(
                cert::CertType::from(1),
                7,
                cert::Algorithm::from(8),
                vec![1, 2, 3, 4, 5],
            )),
            RData::CSYNC(CSYNC::new(66, true, true, [RecordType::A, RecordType::NS])),
            RData::HINFO(HINFO::new("x86_64".into(), "Linux".into())),
            RData::NULL(NULL::with(vec![0, 1, 2])),
            RData::OPENPGPKEY(OPENPGPKEY::new(vec![0xff; 7])),
            RData::SSHFP(SSHFP::new(
                sshfp::Algorithm::from(4),
                sshfp::FingerprintType::from(2),
                vec![0x0a, 0xbc],
            )),
            RData::TLSA(tlsa()),
            RData::SMIMEA(SMIMEA(tlsa())),
            RData::HTTPS(HTTPS(svcb.clone())),
            RData::SVCB(svcb),
            RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::with(b"any bytes!".to_vec()),
            },
        ];
        for data in &all {
            assert_eq!(presentation(data), data.to_string(), "{data:?}");
        }
        let idn = RData::CNAME(CNAME(name("xn--hllo-bpa.example.")));
        assert_eq!(presentation(&idn), "xn--hllo-bpa.example.");
        assert_eq!(idn.to_string(), "héllo.example.", "hickory's own Display");
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
        ] {
            assert_eq!(base64(bytes), text);
        }
    }

    #[test]
    fn names_and_reverse_names() {
        assert_eq!(absolute_name("hostnames").unwrap(), "hostnames.");
        assert_eq!(absolute_name("a.b.").unwrap(), "a.b.");
        assert_eq!(absolute_name("my_svc").unwrap(), "my_svc.");
        assert_eq!(
            absolute_name("_http._tcp.hostnames").unwrap(),
            "_http._tcp.hostnames."
        );
        assert_eq!(absolute_name(""), Err(NameError::Empty));
        assert_eq!(absolute_name("."), Err(NameError::EmptyLabel));
        assert_eq!(absolute_name("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(absolute_name("a b"), Err(NameError::BadCharacter(' ')));
        assert!(matches!(
            absolute_name(&"x".repeat(64)),
            Err(NameError::LabelTooLong(_))
        ));
        assert_eq!(absolute_name("héllo.example."), Err(NameError::NotAscii));
        assert!(absolute_name("héllo.example.")
            .unwrap_err()
            .to_string()
            .contains("IDNA form"));
        assert_eq!(
            reverse_name("10.0.1.175".parse().unwrap()),
            "175.1.0.10.in-addr.arpa."
        );
        assert!(reverse_name("fd00::1".parse().unwrap()).starts_with(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
        ));
        assert_eq!(rcode(ResponseCode::NXDomain).to_string(), "NXDOMAIN");
        assert_eq!(rcode(ResponseCode::from(0, 11)).to_string(), "RCODE11");
    }
}
