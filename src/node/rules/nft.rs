//! nf_tables messages decoded (pure, fuzzed): a rule's expressions into a [`Rule`], a set's
//! elements, a table's name. Layouts from linux/netfilter/nf_tables.h.
//!
//! A rule is a little register program; kube-proxy's rules (written by `iptables-nft` or by
//! kube-proxy's nftables mode) use a handful of expressions: `payload`/`meta` loads, `cmp`,
//! `bitwise` for prefixes, `immediate` verdicts and values, `nat`, `numgen` + `lookup` for
//! the random choice, and x_tables `match`/`target` for what iptables-nft cannot express
//! natively (`comment`, `statistic`, `DNAT`, `REJECT`). Anything else is kept by name in
//! [`Rule::other`], so that a rule with conditions we do not decode is never taken as plain.

use std::collections::HashMap;

use super::model::{self, Action, AddrMatch, Rule};
use super::netlink::{attrs, be32, find, string};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_TABLE_NAME: u16 = 1;
/// `NFTNL_UDATA_RULE_COMMENT` / `NFTNL_UDATA_SET_ELEM_COMMENT` in libnftnl's TLVs.
const UDATA_COMMENT: u8 = 0;

const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
const NFT_RETURN: i32 = -5;

const PAYLOAD_NETWORK: u32 = 1;
const PAYLOAD_TRANSPORT: u32 = 2;
const META_L4PROTO: u32 = 16;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const NAT_DNAT: u32 = 1;
const NG_RANDOM: u32 = 1;
const NFPROTO_IPV6: u32 = 10;

/// One rule as the kernel listed it.
#[derive(Debug, PartialEq)]
pub struct RuleMessage {
    pub table: String,
    pub chain: String,
    pub rule: Rule,
}

/// A verdict: of a rule, or the data of a verdict-map element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
    Other(i32),
}

impl Verdict {
    fn action(self) -> Action {
        match self {
            Verdict::Accept => Action::Accept,
            Verdict::Drop => Action::Drop,
            Verdict::Return => Action::Return,
            Verdict::Jump(c) => Action::Jump(c),
            Verdict::Goto(c) => Action::Goto(c),
            Verdict::Other(code) => Action::Other(format!("verdict {code}")),
        }
    }
}

/// One set or map element.
#[derive(Debug, PartialEq)]
pub struct Element {
    pub key: Vec<u8>,
    pub verdict: Option<Verdict>,
    pub comment: Option<String>,
}

/// The name in a table message.
pub fn table_name(payload: &[u8]) -> Option<String> {
    find(payload.get(4..)?, NFTA_TABLE_NAME).map(string)
}

/// Decodes a rule message (payload from the `nfgenmsg` on); `None` when it is not one.
pub fn decode_rule(payload: &[u8]) -> Option<RuleMessage> {
    let ipv6 = u32::from(*payload.first()?) == NFPROTO_IPV6;
    let body = payload.get(4..)?;
    let mut message = RuleMessage {
        table: string(find(body, NFTA_RULE_TABLE)?),
        chain: string(find(body, NFTA_RULE_CHAIN)?),
        rule: Rule::default(),
    };
    if let Some(expressions) = find(body, NFTA_RULE_EXPRESSIONS) {
        let mut program = Program::new(ipv6);
        for (kind, expr) in attrs(expressions) {
            if kind == NFTA_LIST_ELEM {
                let name = find(expr, NFTA_EXPR_NAME).map(string).unwrap_or_default();
                let data = find(expr, NFTA_EXPR_DATA).unwrap_or_default();
                program.step(&name, data, &mut message.rule);
            }
        }
    }
    if let Some(comment) = find(body, NFTA_RULE_USERDATA).and_then(udata_comment) {
        message.rule.comment = Some(comment);
    }
    Some(message)
}

/// Hands each element of a set-element message to `on_element`.
pub fn decode_elements(payload: &[u8], on_element: &mut dyn FnMut(Element)) {
    let Some(list) = payload
        .get(4..)
        .and_then(|body| find(body, NFTA_SET_ELEM_LIST_ELEMENTS))
    else {
        return;
    };
    for (kind, element) in attrs(list) {
        if kind != NFTA_LIST_ELEM {
            continue;
        }
        let key = find(element, NFTA_SET_ELEM_KEY)
            .and_then(|k| find(k, NFTA_DATA_VALUE))
            .unwrap_or_default()
            .to_vec();
        let verdict = find(element, NFTA_SET_ELEM_DATA)
            .and_then(|d| find(d, NFTA_DATA_VERDICT))
            .and_then(verdict);
        let comment = find(element, NFTA_SET_ELEM_USERDATA).and_then(udata_comment);
        on_element(Element {
            key,
            verdict,
            comment,
        });
    }
}

fn verdict(nested: &[u8]) -> Option<Verdict> {
    let code = be32(find(nested, NFTA_VERDICT_CODE)?)? as i32;
    let chain = || {
        find(nested, NFTA_VERDICT_CHAIN)
            .map(string)
            .unwrap_or_default()
    };
    Some(match code {
        NF_ACCEPT => Verdict::Accept,
        NF_DROP => Verdict::Drop,
        NFT_RETURN => Verdict::Return,
        NFT_JUMP => Verdict::Jump(chain()),
        NFT_GOTO => Verdict::Goto(chain()),
        other => Verdict::Other(other),
    })
}

/// The comment in libnftnl's user data: TLVs of (type u8, length u8, value).
fn udata_comment(mut udata: &[u8]) -> Option<String> {
    while let [kind, len, rest @ ..] = udata {
        let value = rest.get(..usize::from(*len))?;
        if *kind == UDATA_COMMENT {
            return Some(string(value));
        }
        udata = &rest[usize::from(*len)..];
    }
    None
}

/// What a register holds, as far as kube-proxy's rules need to know.
#[derive(Clone, Debug)]
enum Register {
    Payload { base: u32, offset: u32, len: u32 },
    Masked { base: u32, offset: u32, prefix: u8 },
    L4proto,
    Numgen { modulus: u32 },
    Value(Vec<u8>),
}

/// The rule's expressions run symbolically, one at a time.
struct Program {
    ipv6: bool,
    registers: HashMap<u32, Register>,
}

impl Program {
    fn new(ipv6: bool) -> Program {
        Program {
            ipv6,
            registers: HashMap::new(),
        }
    }

    fn step(&mut self, name: &str, data: &[u8], rule: &mut Rule) {
        let num = |kind: u16| find(data, kind).and_then(be32);
        let handled = match name {
            "counter" => true,
            "payload" => self.payload(num(1), num(2), num(3), num(4)),
            "meta" => match (num(1), num(2)) {
                (Some(dreg), Some(META_L4PROTO)) => {
                    self.registers.insert(dreg, Register::L4proto);
                    true
                }
                _ => false,
            },
            "bitwise" => self.bitwise(data),
            "cmp" => self.cmp(data, rule),
            "immediate" => self.immediate(data, rule),
            "numgen" => match (num(1), num(2), num(3)) {
                (Some(dreg), Some(modulus), Some(NG_RANDOM)) if num(4).unwrap_or(0) == 0 => {
                    self.registers.insert(dreg, Register::Numgen { modulus });
                    true
                }
                _ => false,
            },
            "lookup" => self.lookup(data, rule),
            "nat" => self.nat(data, rule),
            "reject" => {
                rule.action = Action::Reject;
                true
            }
            "match" => {
                let info = find(data, 3).unwrap_or_default();
                model::apply_match(rule, &find(data, 1).map(string).unwrap_or_default(), info);
                true
            }
            "target" => {
                let target = find(data, 1).map(string).unwrap_or_default();
                let revision = num(2).unwrap_or(0) as u8;
                let info = find(data, 3).unwrap_or_default();
                rule.action = model::target_action(&target, revision, info, self.ipv6);
                true
            }
            _ => false,
        };
        if !handled {
            rule.other.push(name.to_string());
        }
    }

    fn payload(
        &mut self,
        dreg: Option<u32>,
        base: Option<u32>,
        offset: Option<u32>,
        len: Option<u32>,
    ) -> bool {
        match (dreg, base, offset, len) {
            (Some(dreg), Some(base), Some(offset), Some(len)) => {
                self.registers
                    .insert(dreg, Register::Payload { base, offset, len });
                true
            }
            _ => false,
        }
    }

    /// `payload & mask` (a prefix that does not end on a byte): a masked address load.
    fn bitwise(&mut self, data: &[u8]) -> bool {
        let num = |kind: u16| find(data, kind).and_then(be32);
        let mask = find(data, 4).and_then(|m| find(m, NFTA_DATA_VALUE));
        let xor = find(data, 5).and_then(|m| find(m, NFTA_DATA_VALUE));
        let (Some(sreg), Some(dreg), Some(mask)) = (num(1), num(2), mask) else {
            return false;
        };
        if xor.is_some_and(|x| x.iter().any(|&b| b != 0)) {
            return false;
        }
        match (self.registers.get(&sreg), model::mask_prefix(mask)) {
            (Some(&Register::Payload { base, offset, .. }), Some(prefix)) => {
                self.registers.insert(
                    dreg,
                    Register::Masked {
                        base,
                        offset,
                        prefix,
                    },
                );
                true
            }
            _ => false,
        }
    }

    fn cmp(&mut self, data: &[u8], rule: &mut Rule) -> bool {
        let num = |kind: u16| find(data, kind).and_then(be32);
        let value = find(data, 3).and_then(|v| find(v, NFTA_DATA_VALUE));
        let (Some(sreg), Some(op), Some(value)) = (num(1), num(2), value) else {
            return false;
        };
        if op != CMP_EQ && op != CMP_NEQ {
            return false;
        }
        let negated = op == CMP_NEQ;
        let (base, offset, prefix) = match self.registers.get(&sreg) {
            Some(Register::L4proto) if !negated => {
                rule.l4proto = value.first().copied();
                return rule.l4proto.is_some();
            }
            Some(&Register::Payload { base, offset, len }) => (
                base,
                offset,
                u8::try_from(len.saturating_mul(8)).unwrap_or(u8::MAX),
            ),
            Some(&Register::Masked {
                base,
                offset,
                prefix,
            }) => (base, offset, prefix),
            _ => return false,
        };
        if base == PAYLOAD_TRANSPORT && offset == 2 && prefix == 16 && !negated {
            rule.dport = value.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            return rule.dport.is_some();
        }
        let (saddr_at, daddr_at, max) = if self.ipv6 {
            (8, 24, 128)
        } else {
            (12, 16, 32)
        };
        if base != PAYLOAD_NETWORK || prefix > max {
            return false;
        }
        let bytes = value
            .get(..usize::from(prefix).div_ceil(8))
            .unwrap_or(value);
        let Some(addr) = model::addr_from(bytes, self.ipv6) else {
            return false;
        };
        let m = Some(AddrMatch {
            addr,
            prefix,
            negated,
        });
        match offset {
            o if o == saddr_at => rule.saddr = m,
            o if o == daddr_at => rule.daddr = m,
            _ => return false,
        }
        true
    }

    fn immediate(&mut self, data: &[u8], rule: &mut Rule) -> bool {
        let (Some(dreg), Some(nested)) = (find(data, 1).and_then(be32), find(data, 2)) else {
            return false;
        };
        if let Some(v) = find(nested, NFTA_DATA_VERDICT).and_then(verdict) {
            rule.action = v.action();
            return true;
        }
        match find(nested, NFTA_DATA_VALUE) {
            Some(value) => {
                self.registers.insert(dreg, Register::Value(value.to_vec()));
                true
            }
            None => false,
        }
    }

    /// `numgen ... vmap @set` (a verdict map keyed by the random slot); any other lookup is
    /// a condition we keep by name.
    fn lookup(&mut self, data: &[u8], rule: &mut Rule) -> bool {
        let set = find(data, 1).map(string).unwrap_or_default();
        let sreg = find(data, 2).and_then(be32);
        let dreg = find(data, 3).and_then(be32);
        match (sreg.and_then(|r| self.registers.get(&r)), dreg) {
            (Some(&Register::Numgen { modulus }), Some(0)) => {
                rule.action = Action::NumgenVmap { modulus, set };
                true
            }
            _ => {
                rule.other.push(format!("lookup @{set}"));
                true
            }
        }
    }

    fn nat(&mut self, data: &[u8], rule: &mut Rule) -> bool {
        let num = |kind: u16| find(data, kind).and_then(be32);
        if num(1) != Some(NAT_DNAT) {
            rule.action = Action::Other("snat".into());
            return true;
        }
        let value = |reg: Option<u32>| match reg.and_then(|r| self.registers.get(&r)) {
            Some(Register::Value(v)) => Some(v.clone()),
            _ => None,
        };
        let ipv6 = num(2) == Some(NFPROTO_IPV6);
        let addr =
            value(num(3)).and_then(|v| model::addr_from(v.get(..if ipv6 { 16 } else { 4 })?, ipv6));
        let port =
            value(num(5)).and_then(|v| Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?)));
        rule.action = match addr {
            Some(addr) => Action::Dnat { addr, port },
            None => Action::Other("dnat (address not decoded)".into()),
        };
        true
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builders for nf_tables attributes, as the kernel lays them out.
    pub fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(payload);
        a.resize((a.len() + 3) & !3, 0);
        a
    }

    pub fn nested(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        attr(kind | 0x8000, &parts.concat())
    }

    pub fn n32(kind: u16, v: u32) -> Vec<u8> {
        attr(kind, &v.to_be_bytes())
    }

    pub fn s(kind: u16, v: &str) -> Vec<u8> {
        attr(kind, &[v.as_bytes(), &[0]].concat())
    }

    pub fn expr(name: &str, data: &[Vec<u8>]) -> Vec<u8> {
        nested(1, &[s(1, name), nested(2, data)])
    }

    fn value(kind: u16, v: &[u8]) -> Vec<u8> {
        nested(kind, &[attr(NFTA_DATA_VALUE, v)])
    }

    pub fn verdict_data(code: i32, chain: Option<&str>) -> Vec<u8> {
        let mut parts = vec![n32(NFTA_VERDICT_CODE, code as u32)];
        parts.extend(chain.map(|c| s(NFTA_VERDICT_CHAIN, c)));
        nested(NFTA_DATA_VERDICT, &parts)
    }

    pub fn payload_load(reg: u32, base: u32, offset: u32, len: u32) -> Vec<u8> {
        expr(
            "payload",
            &[n32(1, reg), n32(2, base), n32(3, offset), n32(4, len)],
        )
    }

    pub fn cmp(reg: u32, op: u32, v: &[u8]) -> Vec<u8> {
        expr("cmp", &[n32(1, reg), n32(2, op), value(3, v)])
    }

    pub fn jump(code: i32, chain: &str) -> Vec<u8> {
        expr(
            "immediate",
            &[n32(1, 0), nested(2, &[verdict_data(code, Some(chain))])],
        )
    }

    pub fn rule_message(family: u8, table: &str, chain: &str, exprs: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![family, 0, 0, 0];
        m.extend(s(NFTA_RULE_TABLE, table));
        m.extend(s(NFTA_RULE_CHAIN, chain));
        m.extend(nested(
            NFTA_RULE_EXPRESSIONS,
            &exprs
                .iter()
                .map(|e| attr(NFTA_LIST_ELEM | 0x8000, &e[4..]))
                .collect::<Vec<_>>(),
        ));
        m
    }

    pub fn element(key: &[u8], data: Option<Vec<u8>>, comment: Option<&str>) -> Vec<u8> {
        let mut parts = vec![value(NFTA_SET_ELEM_KEY, key)];
        parts.extend(data.map(|d| nested(NFTA_SET_ELEM_DATA, &[d])));
        if let Some(c) = comment {
            let mut u = vec![UDATA_COMMENT, (c.len() + 1) as u8];
            u.extend_from_slice(c.as_bytes());
            u.push(0);
            parts.push(attr(NFTA_SET_ELEM_USERDATA, &u));
        }
        nested(NFTA_LIST_ELEM, &parts)
    }

    pub fn elements_message(family: u8, elements: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![family, 0, 0, 0];
        m.extend(s(1, "kube-proxy"));
        m.extend(nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements));
        m
    }

    #[test]
    fn iptables_nft_service_rule() {
        // meta l4proto tcp ip daddr 10.0.1.175 tcp dport 80 (comment match) jump KUBE-SVC-X
        let mut comment = b"default/hostnames:http cluster IP".to_vec();
        comment.resize(256, 0);
        let m = rule_message(
            2,
            "nat",
            "KUBE-SERVICES",
            &[
                expr("meta", &[n32(2, META_L4PROTO), n32(1, 1)]),
                cmp(1, CMP_EQ, &[6]),
                payload_load(1, 1, 16, 4),
                cmp(1, CMP_EQ, &[10, 0, 1, 175]),
                expr("match", &[s(1, "comment"), n32(2, 0), attr(3, &comment)]),
                payload_load(1, 2, 2, 2),
                cmp(1, CMP_EQ, &80u16.to_be_bytes()),
                expr("counter", &[]),
                jump(NFT_JUMP, "KUBE-SVC-X"),
            ],
        );
        let r = decode_rule(&m).unwrap();
        assert_eq!(
            (r.table.as_str(), r.chain.as_str()),
            ("nat", "KUBE-SERVICES")
        );
        assert!(r.rule.matches_service("10.0.1.175".parse().unwrap(), 6, 80));
        assert_eq!(
            r.rule.comment.as_deref(),
            Some("default/hostnames:http cluster IP")
        );
        assert_eq!(r.rule.action, Action::Jump("KUBE-SVC-X".into()));
        assert!(r.rule.other.is_empty(), "{:?}", r.rule.other);
    }

    #[test]
    fn prefixes_by_length_and_by_mask() {
        // ! -s 10.244.0.0/16 as iptables-nft writes it: a 2-byte load
        let m = rule_message(
            2,
            "nat",
            "C",
            &[payload_load(1, 1, 12, 2), cmp(1, CMP_NEQ, &[10, 244])],
        );
        let s = decode_rule(&m).unwrap().rule.saddr.unwrap();
        assert_eq!(
            (s.addr.to_string(), s.prefix, s.negated),
            ("10.244.0.0".into(), 16, true)
        );
        // 10.240.0.0/12: load 4 bytes, mask, compare
        let mask = nested(4, &[attr(NFTA_DATA_VALUE, &[255, 240, 0, 0])]);
        let xor = nested(5, &[attr(NFTA_DATA_VALUE, &[0, 0, 0, 0])]);
        let m = rule_message(
            2,
            "nat",
            "C",
            &[
                payload_load(1, 1, 12, 4),
                expr("bitwise", &[n32(1, 1), n32(2, 1), n32(3, 4), mask, xor]),
                cmp(1, CMP_EQ, &[10, 240, 0, 0]),
            ],
        );
        let s = decode_rule(&m).unwrap().rule.saddr.unwrap();
        assert_eq!((s.prefix, s.negated), (12, false));
    }

    #[test]
    fn nftables_mode_endpoint_and_service_chains() {
        let dnat = rule_message(
            2,
            "kube-proxy",
            "endpoint-X",
            &[
                expr("meta", &[n32(2, META_L4PROTO), n32(1, 1)]),
                cmp(1, CMP_EQ, &[6]),
                expr("immediate", &[n32(1, 1), value(2, &[10, 180, 0, 1])]),
                expr("immediate", &[n32(1, 2), value(2, &80u16.to_be_bytes())]),
                expr(
                    "nat",
                    &[
                        n32(1, NAT_DNAT),
                        n32(2, 2),
                        n32(3, 1),
                        n32(4, 1),
                        n32(5, 2),
                        n32(6, 2),
                        n32(7, 3),
                    ],
                ),
            ],
        );
        let r = decode_rule(&dnat).unwrap().rule;
        assert_eq!(
            r.action,
            Action::Dnat {
                addr: "10.180.0.1".parse().unwrap(),
                port: Some(80)
            }
        );
        let vmap = rule_message(
            2,
            "kube-proxy",
            "service-X",
            &[
                expr("numgen", &[n32(1, 1), n32(2, 3), n32(3, NG_RANDOM)]),
                expr("lookup", &[s(1, "__map0"), n32(2, 1), n32(3, 0)]),
            ],
        );
        let r = decode_rule(&vmap).unwrap().rule;
        assert_eq!(
            r.action,
            Action::NumgenVmap {
                modulus: 3,
                set: "__map0".into()
            }
        );
        // a lookup that is a condition, and an expression we do not know
        let other = rule_message(
            2,
            "kube-proxy",
            "c",
            &[
                payload_load(1, 1, 16, 4),
                expr("lookup", &[s(1, "cluster-ips"), n32(2, 1)]),
                expr("fib", &[]),
                expr("reject", &[]),
            ],
        );
        let r = decode_rule(&other).unwrap().rule;
        assert_eq!(r.other, ["lookup @cluster-ips", "fib"]);
        assert_eq!(r.action, Action::Reject);
    }

    #[test]
    fn map_elements_with_verdicts_and_comments() {
        let key = [[10u8, 0, 1, 175], [6, 0, 0, 0], [0, 80, 0, 0]].concat();
        let m = elements_message(
            2,
            &[
                element(
                    &key,
                    Some(verdict_data(NFT_GOTO, Some("reject-chain"))),
                    Some("default/x:http"),
                ),
                element(&[1, 0, 0, 0], Some(verdict_data(NF_DROP, None)), None),
                element(&[9], None, None),
            ],
        );
        let mut got = Vec::new();
        decode_elements(&m, &mut |e| got.push(e));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].key, key);
        assert_eq!(got[0].verdict, Some(Verdict::Goto("reject-chain".into())));
        assert_eq!(got[0].comment.as_deref(), Some("default/x:http"));
        assert_eq!(got[1].verdict, Some(Verdict::Drop));
        assert_eq!(got[2].verdict, None);
    }

    #[test]
    fn cut_messages_never_panic() {
        let m = rule_message(
            2,
            "nat",
            "KUBE-SERVICES",
            &[
                payload_load(1, 1, 16, 4),
                cmp(1, CMP_EQ, &[10, 0, 1, 175]),
                jump(NFT_GOTO, "KUBE-SVC-X"),
            ],
        );
        for cut in 0..m.len() {
            let _ = decode_rule(&m[..cut]);
            decode_elements(&m[..cut], &mut |_| {});
            let _ = table_name(&m[..cut]);
        }
        assert_eq!(
            decode_rule(&m).unwrap().rule.action,
            Action::Goto("KUBE-SVC-X".into())
        );
    }
}
