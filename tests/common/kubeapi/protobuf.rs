//! The Kubernetes protobuf encoding of a Pod, read into the JSON the rest of the stand-in keeps.
//!
//! client-go's typed clients send built-in objects as protobuf since 1.31 (kubernetes#125314), so
//! the pod `kubectl debug node/...` creates arrives as `k8s\0` + a `runtime.Unknown` (typeMeta 1,
//! raw 2) whose raw bytes are a `Pod`. Only the fields of k8s.io/api core/v1 generated.proto (and
//! apimachinery's ObjectMeta) that a debug pod can carry are mapped, by their field numbers there;
//! other fields are skipped by wire type. Empty strings are left out, as Go's `omitempty` would.

use serde_json::{json, Map, Value};

/// How a field reads.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Msg(&'static [Field]),
    RepStr,
    RepMsg(&'static [Field]),
    MapStr,
}

type Field = (u64, &'static str, Kind);

const POD: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "spec", Kind::Msg(POD_SPEC)),
];
const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
];
const POD_SPEC: &[Field] = &[
    (2, "containers", Kind::RepMsg(CONTAINER)),
    (3, "restartPolicy", Kind::Str),
    (4, "terminationGracePeriodSeconds", Kind::Int),
    (5, "activeDeadlineSeconds", Kind::Int),
    (10, "nodeName", Kind::Str),
    (11, "hostNetwork", Kind::Bool),
    (12, "hostPID", Kind::Bool),
    (13, "hostIPC", Kind::Bool),
    (14, "securityContext", Kind::Msg(POD_SECURITY_CONTEXT)),
    (21, "automountServiceAccountToken", Kind::Bool),
    (22, "tolerations", Kind::RepMsg(TOLERATION)),
];
const CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::RepStr),
    (4, "args", Kind::RepStr),
    (7, "env", Kind::RepMsg(ENV_VAR)),
    (14, "imagePullPolicy", Kind::Str),
    (15, "securityContext", Kind::Msg(SECURITY_CONTEXT)),
    (16, "stdin", Kind::Bool),
    (17, "stdinOnce", Kind::Bool),
    (18, "tty", Kind::Bool),
    (20, "terminationMessagePolicy", Kind::Str),
];
const SECURITY_CONTEXT: &[Field] = &[
    (1, "capabilities", Kind::Msg(CAPABILITIES)),
    (2, "privileged", Kind::Bool),
    (4, "runAsUser", Kind::Int),
    (5, "runAsNonRoot", Kind::Bool),
    (6, "readOnlyRootFilesystem", Kind::Bool),
    (7, "allowPrivilegeEscalation", Kind::Bool),
    (8, "runAsGroup", Kind::Int),
    (11, "seccompProfile", Kind::Msg(SECCOMP_PROFILE)),
];
const POD_SECURITY_CONTEXT: &[Field] = &[
    (2, "runAsUser", Kind::Int),
    (3, "runAsNonRoot", Kind::Bool),
    (6, "runAsGroup", Kind::Int),
    (10, "seccompProfile", Kind::Msg(SECCOMP_PROFILE)),
];
const CAPABILITIES: &[Field] = &[(1, "add", Kind::RepStr), (2, "drop", Kind::RepStr)];
const SECCOMP_PROFILE: &[Field] = &[(1, "type", Kind::Str)];
const TOLERATION: &[Field] = &[
    (1, "key", Kind::Str),
    (2, "operator", Kind::Str),
    (4, "effect", Kind::Str),
];
const ENV_VAR: &[Field] = &[(1, "name", Kind::Str), (2, "value", Kind::Str)];

/// The Pod in a `k8s\0`-prefixed protobuf body, as JSON; `None` when it is not one.
pub fn pod(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(b"k8s\0")?;
    let raw = fields(unknown)?
        .into_iter()
        .find_map(|(n, v)| (n == 2).then_some(v))?;
    let Wire::Bytes(raw) = raw else { return None };
    let mut pod = message(raw, POD)?;
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    Some(pod)
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn fields(data: &[u8]) -> Option<Vec<(u64, Wire<'_>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < data.len() {
        let key = varint(data, &mut at)?;
        let wire = match key & 7 {
            0 => Wire::Varint(varint(data, &mut at)?),
            1 => {
                at += 8;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(data, &mut at)?).ok()?;
                let bytes = data.get(at..at.checked_add(len)?)?;
                at += len;
                Wire::Bytes(bytes)
            }
            5 => {
                at += 4;
                Wire::Fixed
            }
            _ => return None,
        };
        out.push((key >> 3, wire));
    }
    Some(out)
}

fn message(data: &[u8], schema: &[Field]) -> Option<Value> {
    let mut object = Map::new();
    for (number, wire) in fields(data)? {
        let Some(&(_, name, kind)) = schema.iter().find(|f| f.0 == number) else {
            continue;
        };
        let value = match (kind, wire) {
            (Kind::Str, Wire::Bytes([])) => continue,
            (Kind::Str, Wire::Bytes(b)) => json!(String::from_utf8_lossy(b)),
            (Kind::Bool, Wire::Varint(v)) => json!(v != 0),
            (Kind::Int, Wire::Varint(v)) => json!(v as i64),
            (Kind::Msg(inner), Wire::Bytes(b)) => message(b, inner)?,
            (Kind::RepStr, Wire::Bytes(b)) => {
                append(&mut object, name, json!(String::from_utf8_lossy(b)));
                continue;
            }
            (Kind::RepMsg(inner), Wire::Bytes(b)) => {
                let item = message(b, inner)?;
                append(&mut object, name, item);
                continue;
            }
            (Kind::MapStr, Wire::Bytes(b)) => {
                // A map entry: key 1, value 2.
                let entry = message(b, &[(1, "k", Kind::Str), (2, "v", Kind::Str)])?;
                let map = object.entry(name).or_insert_with(|| json!({}));
                let key = entry["k"].as_str().unwrap_or_default().to_string();
                map[key] = entry.get("v").cloned().unwrap_or(json!(""));
                continue;
            }
            _ => return None,
        };
        object.insert(name.to_string(), value);
    }
    Some(Value::Object(object))
}

fn append(object: &mut Map<String, Value>, name: &str, item: Value) {
    if let Some(list) = object
        .entry(name)
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        list.push(item);
    }
}
