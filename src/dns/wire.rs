//! DNS messages on the wire: build one query, read one response. No I/O here.
//!
//! hickory-proto does the encoding; this module pins down the few things a diagnostic
//! tool must get exactly right: the IDs, matching a response to its question, the
//! response-code names people know from dig (`NXDOMAIN`, not "Non-Existent Domain"),
//! and records in presentation format.

use std::fmt;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

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
    NotAscii {
        idna: Option<String>,
    },
    EmptyLabel,
    LabelTooLong(String),
    TooLong,
    BadCharacter(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("the name is empty"),
            NameError::NotAscii { idna: Some(idna) } => write!(
                f,
                "the name is not ASCII: glibc refuses it without a query (no IDNA unless a \
                 program asks for it) and musl sends its UTF-8 bytes as they are; look up its \
                 IDNA form `{idna}` instead"
            ),
            NameError::NotAscii { idna: None } => {
                f.write_str("the name is not ASCII and has no IDNA form")
            }
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
        let idna = Name::from_utf8(name).ok().map(|n| n.to_ascii());
        return Err(NameError::NotAscii { idna });
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
        .map_err(|e| WireError(format!("invalid name `{}`: {e}", question.name)))?;
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
        .map_err(|e| WireError(format!("cannot encode query: {e}")))
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
        Message::from_vec(bytes).map_err(|e| WireError(format!("undecodable response: {e}")))?;
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
                data: r.data.to_string(),
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
        assert_eq!(
            absolute_name("héllo.example."),
            Err(NameError::NotAscii {
                idna: Some("xn--hllo-bpa.example.".into())
            })
        );
        assert!(absolute_name("héllo.example.")
            .unwrap_err()
            .to_string()
            .contains("xn--hllo-bpa.example."));
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
