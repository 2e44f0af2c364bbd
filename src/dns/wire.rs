//! DNS messages on the wire: build one query, read one response. No I/O here.
//!
//! hickory-proto does the encoding; this module pins down the few things a diagnostic
//! tool must get exactly right: the IDs, matching a response to its question, the
//! response-code names people know from dig (`NXDOMAIN`, not "Non-Existent Domain"),
//! and records in presentation format.

use std::fmt;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::report::AnswerRecord;

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
    pub rcode: String,
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

/// Checks a name the user typed and returns it in absolute form (trailing dot).
pub fn absolute_name(name: &str) -> Result<String, WireError> {
    let parsed =
        Name::from_utf8(name).map_err(|e| WireError(format!("invalid name `{name}`: {e}")))?;
    let mut ascii = parsed.to_ascii();
    if !ascii.ends_with('.') {
        ascii.push('.');
    }
    Ok(ascii)
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
    let echoed = message.queries.first();
    let same_question = echoed.is_none_or(|q| {
        q.query_type == question.record_type
            && q.name.to_ascii().eq_ignore_ascii_case(&question.name)
    });
    if !same_question {
        return Err(WireError("reply answers a different question".into()));
    }
    Ok(Response {
        rcode: rcode_name(metadata.response_code),
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

/// The mnemonic dig prints for a response code.
pub fn rcode_name(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_string()
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
        assert_eq!(response.rcode, "NOERROR");
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

    #[test]
    fn names_and_reverse_names() {
        assert_eq!(absolute_name("hostnames").unwrap(), "hostnames.");
        assert_eq!(absolute_name("a.b.").unwrap(), "a.b.");
        assert!(absolute_name(&"x".repeat(64)).is_err());
        assert!(absolute_name("a..b").is_err());
        assert_eq!(
            reverse_name("10.0.1.175".parse().unwrap()),
            "175.1.0.10.in-addr.arpa."
        );
        assert!(reverse_name("fd00::1".parse().unwrap()).starts_with(
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
        ));
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::from(0, 11)), "RCODE11");
    }
}
