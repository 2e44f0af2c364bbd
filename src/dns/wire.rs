//! DNS messages on the wire: build one query, read one response. No I/O here.
//!
//! message.rs reads and writes the bytes; this module pins down the few things a
//! diagnostic tool must get exactly right: the IDs, matching a response to its question,
//! the response-code names people know from dig (`NXDOMAIN`, not "Non-Existent Domain"),
//! and records in presentation format with names in ASCII (`xn--` labels as sent, as dig
//! shows them: no IDNA tables in the binary).

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use hickory_proto::rr::RecordType;

use super::message;
use crate::report::{AnswerRecord, Rcode};

/// One question: an absolute name and a record type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
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

impl std::error::Error for WireError {}

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

impl std::error::Error for NameError {}

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
    message::encode_query(
        id,
        &question.name,
        u16::from(question.record_type),
        edns.then_some(EDNS_PAYLOAD),
    )
    .ok_or_else(|| WireError(format!("invalid name `{}`", question.name)))
}

/// A query ID straight from the kernel's random number generator (getrandom(2)):
/// unpredictable IDs are what keeps off-path spoofing out.
pub fn random_id() -> u16 {
    let mut id = [0u16];
    fill_random(&mut id);
    let [id] = id;
    id
}

/// `count` query IDs from one getrandom(2) call: one per exchange, however many
/// questions it sends.
pub fn random_ids(count: usize) -> Vec<u16> {
    let mut ids = vec![0u16; count];
    fill_random(&mut ids);
    ids
}

/// Fills `ids` with one getrandom(2) call. Where that call is missing or forbidden, std's
/// `RandomState` keys (which std reads from getrandom or /dev/urandom) through SipHash
/// stand in.
fn fill_random(ids: &mut [u16]) {
    let bytes = std::mem::size_of_val(ids);
    // SAFETY: getrandom writes at most `bytes` bytes, the size of `ids`, into it.
    let filled = unsafe { libc::getrandom(ids.as_mut_ptr().cast(), bytes, 0) };
    if usize::try_from(filled) != Ok(bytes) {
        ids.iter_mut().for_each(|id| *id = fallback_id());
    }
}

fn fallback_id() -> u16 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() as u16
}

/// The message ID of a datagram, if it is long enough to have one: lets the caller tie
/// an undecodable answer to the question it was meant for.
pub fn message_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Decodes a response to `question` sent with `id`. A reply for another question, or one
/// that is not a response, is an error: a confused or spoofing server is evidence too.
pub fn decode_response(bytes: &[u8], id: u16, question: &Question) -> Result<Response, WireError> {
    let message =
        message::decode(bytes).map_err(|e| WireError(format!("undecodable response: {e}")))?;
    if message.id != id || !message.is_response {
        return Err(WireError("reply is not a response to this query".into()));
    }
    // Both C libraries match a reply to its query by the question section too: a reply
    // without one is not an answer to anything.
    let same_question = message.question.is_some_and(|(name, record_type)| {
        record_type == u16::from(question.record_type) && name.eq_ignore_ascii_case(&question.name)
    });
    if !same_question {
        return Err(WireError("reply does not repeat this question".into()));
    }
    Ok(Response {
        rcode: rcode(message.rcode),
        truncated: message.truncated,
        authoritative: message.authoritative,
        answers: message
            .answers
            .into_iter()
            .map(|r| AnswerRecord {
                name: r.name,
                record_type: RecordType::from(r.record_type).to_string(),
                ttl: r.ttl,
                data: r.data,
            })
            .collect(),
    })
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
fn rcode(code: u16) -> Rcode {
    match code {
        0 => Rcode::NoError,
        1 => Rcode::FormErr,
        2 => Rcode::ServFail,
        3 => Rcode::NxDomain,
        4 => Rcode::NotImp,
        5 => Rcode::Refused,
        other => Rcode::Other(other),
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

    /// hickory-proto 0.26 wrote svcprobe's queries before message.rs: the same bytes for
    /// every name, and an error for the same names.
    #[test]
    fn a_query_is_written_as_hickory_wrote_it() {
        use hickory_proto::op::{Edns, Message, Query};
        use hickory_proto::rr::Name;
        let hickory = |id: u16, name: &str, record_type: RecordType, edns: bool| {
            let name = Name::from_ascii(name).ok()?;
            let mut message = Message::query();
            message.metadata.id = id;
            message.metadata.recursion_desired = true;
            message.add_query(Query::query(name, record_type));
            if edns {
                let mut opt = Edns::new();
                opt.set_max_payload(EDNS_PAYLOAD);
                message.set_edns(opt);
            }
            message.to_vec().ok()
        };
        let long_label = "x".repeat(63);
        let long_name = format!("{long_label}.{long_label}.{long_label}.{}.", "y".repeat(62));
        let too_long = format!("{long_label}.{long_label}.{long_label}.{}.", "y".repeat(63));
        let names = [
            "kubernetes.default.svc.cluster.local.",
            "hostnames",
            "HostNames.Default.",
            ".",
            "",
            "_http._tcp.hostnames.default.svc.cluster.local.",
            "*.example.",
            "a.*.example.",
            "a*.example.",
            "-lead.example.",
            "trail-.example.",
            "a..b.",
            ".a.",
            "a b.",
            r"tab\009.example.",
            r"dot\.inside.example.",
            r"dot\046inside.example.",
            r"octal\101.example.",
            r"bad\9.example.",
            r"bad\08x.example.",
            r"back\\slash.",
            r"ends\",
            "héllo.example.",
            r"\195\169.example.",
            long_label.as_str(),
            &format!("{long_label}x."),
            &long_name,
            &too_long,
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
        ];
        for name in names {
            for (record_type, edns) in [(RecordType::A, false), (RecordType::AAAA, true)] {
                let q = question(name, record_type);
                assert_eq!(
                    encode_query(0xbeef, &q, edns).ok(),
                    hickory(0xbeef, name, record_type, edns),
                    "{name:?} {record_type} edns {edns}"
                );
            }
        }
        let q = question("hostnames.", RecordType::A);
        let parsed = Message::from_vec(&encode_query(7, &q, true).unwrap()).unwrap();
        assert_eq!(parsed.metadata.id, 7);
        assert!(parsed.metadata.recursion_desired);
        assert_eq!(parsed.edns.map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
    }

    #[test]
    fn query_ids_are_random() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        // 64 draws from 65,536 values: fewer than 60 distinct ones is about one chance
        // in 10^9 for a good source, and certain for a constant or a short cycle.
        assert!(ids.len() >= 60, "{ids:?}");
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
        let parsed = hickory_proto::op::Message::from_vec(&bytes).unwrap();
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
    /// only the shipped binary must not link it), each record written to the wire by
    /// hickory's encoder; names are ASCII, `xn--` labels included.
    #[test]
    fn record_data_is_written_as_hickory_writes_it_with_ascii_names() {
        use hickory_proto::op::Message;
        use hickory_proto::rr::rdata::svcb::{
            Alpn, EchConfigList, IpHint, Mandatory, SvcParamKey, Unknown,
        };
        use hickory_proto::rr::rdata::svcb::{SvcParamValue, SVCB};
        use hickory_proto::rr::rdata::{cert, sshfp, tlsa, CNAME, CSYNC, HINFO, MX, NAPTR};
        use hickory_proto::rr::rdata::{A, AAAA, CERT, NS, NULL, OPENPGPKEY, PTR, SOA, SRV};
        use hickory_proto::rr::rdata::{HTTPS, SMIMEA};
        use hickory_proto::rr::rdata::{SSHFP, TLSA, TXT};
        use hickory_proto::rr::{Name, RData, Record};

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
        let ours = |data: &RData| {
            let mut message = Message::query();
            message.add_answer(Record::from_rdata(name("owner.example."), 30, data.clone()));
            let bytes = message.to_vec().unwrap();
            let mut answers = message::decode(&bytes).unwrap().answers;
            assert_eq!(answers.len(), 1, "{data:?}");
            let record = answers.remove(0);
            assert_eq!(record.name, "owner.example.");
            assert_eq!(record.record_type, u16::from(data.record_type()));
            record.data
        };
        for data in &all {
            assert_eq!(ours(data), data.to_string(), "{data:?}");
        }
        let idn = RData::CNAME(CNAME(name("xn--hllo-bpa.example.")));
        assert_eq!(ours(&idn), "xn--hllo-bpa.example.");
        assert_eq!(idn.to_string(), "héllo.example.", "hickory's own Display");
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
        ] {
            assert_eq!(message::base64(bytes), text);
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
        assert_eq!(rcode(3).to_string(), "NXDOMAIN");
        assert_eq!(rcode(11).to_string(), "RCODE11");
    }
}
