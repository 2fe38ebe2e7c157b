//! The proto3 JSON mapping of every generated message, through prost-reflect.
//!
//! `Any` values are resolved through [`crate::pb::DESCRIPTOR_POOL`]. An `Any` whose type the
//! pool does not know must not make a whole response undecodable: [`from_json_lossy`] keeps
//! such values as [`RawAny`] (type URL and raw JSON) and decodes the rest.
//!
//! ```
//! use eeops::pb::google::longrunning::Operation;
//!
//! let op: Operation = eeops::json::from_json(br#"{"name":"projects/p/operations/A","done":true}"#).unwrap();
//! assert!(op.done);
//! assert_eq!(eeops::json::to_json_string(&op).unwrap(), r#"{"name":"projects/p/operations/A","done":true}"#);
//! ```

use prost_reflect::{
    DeserializeOptions, DynamicMessage, Kind, MessageDescriptor, ReflectMessage, SerializeOptions,
};
use serde_json::Value as Json;

// The client reads with it, the server writes with it.
#[cfg_attr(not(all(feature = "client", feature = "server")), allow(dead_code))]
pub(crate) mod typed;

/// Why a JSON document could not be mapped to or from a message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

impl JsonError {
    /// The message, for wrapping into another error.
    pub fn message(&self) -> &str {
        &self.0
    }
}

fn serialize_options() -> SerializeOptions {
    SerializeOptions::new().stringify_64_bit_integers(true)
}

/// Serializes any message as a JSON value (lowerCamelCase names, defaults omitted).
pub fn to_json_value<M: ReflectMessage>(message: &M) -> Result<Json, JsonError> {
    dynamic_to_json_value(&message.transcode_to_dynamic())
}

/// Serializes a dynamic message as a JSON value.
pub fn dynamic_to_json_value(message: &DynamicMessage) -> Result<Json, JsonError> {
    message
        .serialize_with_options(serde_json::value::Serializer, &serialize_options())
        .map_err(|e| {
            JsonError(format!(
                "cannot write {} as JSON: {e}",
                message.descriptor().full_name()
            ))
        })
}

/// Serializes any message as compact JSON text.
pub fn to_json_string<M: ReflectMessage>(message: &M) -> Result<String, JsonError> {
    let mut out = Vec::with_capacity(128);
    to_json_writer(&message.transcode_to_dynamic(), &mut out)?;
    String::from_utf8(out).map_err(|e| JsonError(e.to_string()))
}

/// Serializes a dynamic message as compact JSON bytes into `out`.
pub fn to_json_writer(message: &DynamicMessage, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let mut ser = serde_json::Serializer::new(out);
    message
        .serialize_with_options(&mut ser, &serialize_options())
        .map_err(|e| {
            JsonError(format!(
                "cannot write {} as JSON: {e}",
                message.descriptor().full_name()
            ))
        })
}

/// Parses JSON into a message of type `M`, ignoring unknown fields (forward compatible, as a
/// client should be). Every `Any` must be of a known type; see [`from_json_lossy`].
///
/// An `Any` of `google.protobuf.Empty` may come without its `"value": {}`, as Google's servers
/// write it.
pub fn from_json<M: ReflectMessage + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    let (message, set_aside) = lossy::<M>(bytes, false)?;
    match set_aside.first() {
        None => Ok(message),
        Some(r) => Err(JsonError(format!(
            "invalid JSON for {}: `{}` is an Any of type {} that this build cannot read",
            M::default().descriptor().full_name(),
            r.path,
            r.type_url
        ))),
    }
}

/// Parses JSON into a dynamic message of the given type. With `strict`, unknown fields are an
/// error (what a server wants of a request body).
pub fn dynamic_from_json(
    desc: MessageDescriptor,
    bytes: &[u8],
    strict: bool,
) -> Result<DynamicMessage, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let options = DeserializeOptions::new().deny_unknown_fields(strict);
    let message = DynamicMessage::deserialize_with_options(desc.clone(), &mut de, &options)
        .map_err(|e| JsonError(format!("invalid JSON for {}: {e}", desc.full_name())))?;
    de.end()
        .map_err(|e| JsonError(format!("invalid JSON for {}: {e}", desc.full_name())))?;
    Ok(message)
}

/// An `Any` whose type eeops does not know, kept as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAny {
    /// Where it stood, as a JSON path of field names (e.g. `metadata`, `error.details[0]`).
    pub path: String,
    /// Its `@type`.
    pub type_url: String,
    /// The whole JSON object, `@type` included.
    pub json: Json,
}

/// Parses JSON into `M`, setting aside every `Any` whose type is unknown (or whose JSON does
/// not fit its known type) instead of failing.
///
/// Each set-aside value becomes, in the decoded message, an `Any` with its type URL and an
/// empty value, and is returned in full as a [`RawAny`].
///
/// ```
/// use eeops::pb::google::longrunning::Operation;
///
/// let body = br#"{"name":"projects/p/operations/A","metadata":{"@type":"type.googleapis.com/x.Unknown","a":1}}"#;
/// let (op, raw): (Operation, _) = eeops::json::from_json_lossy(body).unwrap();
/// assert_eq!(op.metadata.unwrap().type_url, "type.googleapis.com/x.Unknown");
/// assert_eq!(raw[0].path, "metadata");
/// assert_eq!(raw[0].json["a"], 1);
/// ```
pub fn from_json_lossy<M: ReflectMessage + Default>(
    bytes: &[u8],
) -> Result<(M, Vec<RawAny>), JsonError> {
    lossy(bytes, false)
}

/// Parses JSON into `M` like [`from_json_lossy`], but keeps each `Any` of unknown type inside
/// the message: its `type_url` as sent, and as its `value` the UTF-8 text of its whole JSON
/// object (`@type` included) instead of binary protobuf. [`raw_any_json`] reads it back.
///
/// This is how eeops' REST client hands such values through transport-agnostic code that
/// only sees messages.
///
/// ```
/// use eeops::pb::google::longrunning::Operation;
///
/// let body = br#"{"name":"projects/p/operations/A","metadata":{"@type":"type.googleapis.com/x.Unknown","a":1}}"#;
/// let op: Operation = eeops::json::from_json_keep_raw(body).unwrap();
/// let any = op.metadata.unwrap();
/// assert_eq!(any.type_url, "type.googleapis.com/x.Unknown");
/// assert_eq!(eeops::json::raw_any_json(&any).unwrap()["a"], 1);
/// ```
pub fn from_json_keep_raw<M: ReflectMessage + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    lossy(bytes, true).map(|(m, _)| m)
}

#[cfg(feature = "client")]
/// What eeops' REST client reads an answer with: the typed code when it can (see
/// [`typed`]), otherwise [`from_json_keep_raw`], with the same result.
pub(crate) fn decode_response<M: ReflectMessage + typed::TypedJson>(
    bytes: &[u8],
) -> Result<M, JsonError> {
    match typed::read::<M>(bytes) {
        Ok(message) => Ok(message),
        Err(_) => from_json_keep_raw(bytes),
    }
}

#[cfg(feature = "server")]
/// Writes `message` as compact proto3 JSON into `out` with the typed code, or with
/// prost-reflect when the typed code gives up. An `Any` of `Empty` comes out in Google's form
/// (no `value`) either way.
pub(crate) fn encode_response<M: ReflectMessage + typed::TypedJson>(
    message: &M,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    let start = out.len();
    if typed::write(message, out).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    let mut value = to_json_value(message)?;
    plain_empty_any(&mut value);
    serde_json::to_writer(out, &value).map_err(|e| JsonError(e.to_string()))
}

#[cfg(feature = "server")]
/// prost-reflect writes an `Any` holding `google.protobuf.Empty` as
/// `{"@type": ".../google.protobuf.Empty", "value": {}}`; Google's servers, and the Java and
/// Python JSON mappings, write `{"@type": ".../google.protobuf.Empty"}` (Empty is not one of
/// the types with a special JSON form), and Python's strict parser refuses the `value` key.
/// Rewrites every such `Any` the way Google does.
pub(crate) fn plain_empty_any(value: &mut Json) {
    match value {
        Json::Object(map) => {
            let is_empty_any = map
                .get("@type")
                .and_then(Json::as_str)
                .is_some_and(|t| t.ends_with("/google.protobuf.Empty"))
                && map
                    .get("value")
                    .is_some_and(|v| v.as_object().is_some_and(serde_json::Map::is_empty));
            if is_empty_any {
                map.remove("value");
            }
            map.values_mut().for_each(plain_empty_any);
        }
        Json::Array(items) => items.iter_mut().for_each(plain_empty_any),
        _ => {}
    }
}

/// The JSON object an `Any` holds when [`from_json_keep_raw`] set it aside: `Some` when the
/// value is a JSON object whose `@type` equals the `Any`'s type URL (binary protobuf never
/// looks like that in practice: it would start with a deprecated group tag).
pub fn raw_any_json(any: &prost_types::Any) -> Option<Json> {
    if any.value.first() != Some(&b'{') {
        return None;
    }
    let json: Json = serde_json::from_slice(&any.value).ok()?;
    (json.get("@type")?.as_str()? == any.type_url).then_some(json)
}

fn lossy<M: ReflectMessage + Default>(
    bytes: &[u8],
    keep_raw: bool,
) -> Result<(M, Vec<RawAny>), JsonError> {
    let desc = M::default().descriptor();
    // The usual case: every `Any` is of a known type and fits it. Then one pass straight from
    // the bytes gives the very message the walk below would, without building a JSON tree
    // first and without decoding each `Any` twice (once to test it, once for real). Anything
    // else fails this pass and takes the walk.
    if let Ok(dynamic) = dynamic_from_json(desc.clone(), bytes, false)
        && let Ok(message) = dynamic.transcode_to::<M>()
    {
        return Ok((message, Vec::new()));
    }
    lossy_walk(desc, bytes, keep_raw)
}

/// Parses `bytes` as a JSON tree, sets aside each `Any` that does not decode, decodes the
/// rest, and puts placeholders where the set-aside values stood.
fn lossy_walk<M: ReflectMessage + Default>(
    desc: MessageDescriptor,
    bytes: &[u8],
    keep_raw: bool,
) -> Result<(M, Vec<RawAny>), JsonError> {
    let mut value: Json = serde_json::from_slice(bytes)
        .map_err(|e| JsonError(format!("invalid JSON for {}: {e}", desc.full_name())))?;
    let mut raw = Vec::new();
    set_aside_unknown_anys(&desc, &mut value, String::new(), &mut raw);
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let mut dynamic = DynamicMessage::deserialize_with_options(desc.clone(), value, &options)
        .map_err(|e| JsonError(format!("invalid JSON for {}: {e}", desc.full_name())))?;
    for r in &raw {
        let value = if keep_raw {
            serde_json::to_vec(&r.json).unwrap_or_default()
        } else {
            Vec::new()
        };
        restore_placeholder(&mut dynamic, &r.path, &r.type_url, value);
    }
    let message = dynamic
        .transcode_to::<M>()
        .map_err(|e| JsonError(e.to_string()))?;
    Ok((message, raw))
}

fn is_any(desc: &MessageDescriptor) -> bool {
    desc.full_name() == "google.protobuf.Any"
}

fn known_type(type_url: &str) -> bool {
    let name = type_url.rsplit('/').next().unwrap_or_default();
    crate::pb::DESCRIPTOR_POOL
        .get_message_by_name(name)
        .is_some()
}

/// Walks `value` as a `desc` message; an `Any` of unknown type is replaced by `null` (which
/// proto3 JSON reads as "not set") and recorded.
fn set_aside_unknown_anys(
    desc: &MessageDescriptor,
    value: &mut Json,
    path: String,
    out: &mut Vec<RawAny>,
) {
    let Json::Object(map) = value else { return };
    for field in desc.fields() {
        let Kind::Message(sub) = field.kind() else {
            continue;
        };
        let key = if map.contains_key(field.json_name()) {
            field.json_name().to_owned()
        } else if map.contains_key(field.name()) {
            field.name().to_owned()
        } else {
            continue;
        };
        let Some(v) = map.get_mut(&key) else { continue };
        let here = if path.is_empty() {
            field.name().to_owned()
        } else {
            format!("{path}.{}", field.name())
        };
        if field.is_map() {
            continue;
        }
        if field.is_list() {
            if let Json::Array(items) = v {
                let mut keep = Vec::with_capacity(items.len());
                for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                    let item_path = format!("{here}[{i}]");
                    if is_any(&sub) {
                        complete_empty_any(&mut item);
                        if let Some(t) = unknown_any_type(&item) {
                            out.push(RawAny {
                                path: item_path,
                                type_url: t,
                                json: item,
                            });
                            // Keep the slot so that indexes stay stable; restored below.
                            keep.push(serde_json::json!({"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}));
                            continue;
                        }
                    } else {
                        set_aside_unknown_anys(&sub, &mut item, item_path, out);
                    }
                    keep.push(item);
                }
                *items = keep;
            }
        } else if is_any(&sub) {
            complete_empty_any(v);
            if let Some(t) = unknown_any_type(v) {
                let json = std::mem::replace(v, Json::Null);
                out.push(RawAny {
                    path: here,
                    type_url: t,
                    json,
                });
            }
        } else {
            set_aside_unknown_anys(&sub, v, here, out);
        }
    }
}

/// Google's servers (and Python's protobuf) write an `Any` of `google.protobuf.Empty` as
/// `{"@type": ".../google.protobuf.Empty"}`; the proto3 JSON mapping of a well-known type inside
/// an `Any` (and prost-reflect) wants `"value": {}` as well. Fills it in, so both forms read.
fn complete_empty_any(v: &mut Json) {
    if let Json::Object(map) = v
        && !map.contains_key("value")
        && map
            .get("@type")
            .and_then(Json::as_str)
            .is_some_and(|t| t.rsplit('/').next() == Some("google.protobuf.Empty"))
    {
        map.insert("value".into(), Json::Object(serde_json::Map::new()));
    }
}

/// The type URL of an `Any` to set aside: one whose type is unknown, or whose JSON does not
/// fit its known type (a newer server may send an enum value or a field shape this build does
/// not know; that must not make the whole response undecodable).
fn unknown_any_type(v: &Json) -> Option<String> {
    let t = v.get("@type")?.as_str()?;
    if !known_type(t) {
        return Some(t.to_owned());
    }
    let any = crate::pb::DESCRIPTOR_POOL.get_message_by_name("google.protobuf.Any")?;
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    DynamicMessage::deserialize_with_options(any, v, &options)
        .is_err()
        .then(|| t.to_owned())
}

/// Puts an `Any { type_url, value }` where an unknown one was set aside (`value` is empty, or
/// the raw JSON for [`from_json_keep_raw`]).
fn restore_placeholder(message: &mut DynamicMessage, path: &str, type_url: &str, value: Vec<u8>) {
    let mut any = DynamicMessage::new(
        crate::pb::DESCRIPTOR_POOL
            .get_message_by_name("google.protobuf.Any")
            .expect("google.protobuf.Any is in the pool"),
    );
    any.set_field_by_name(
        "type_url",
        prost_reflect::Value::String(type_url.to_owned()),
    );
    if !value.is_empty() {
        any.set_field_by_name("value", prost_reflect::Value::Bytes(value.into()));
    }
    let mut target = message;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*part, None),
        };
        let last = i + 1 == parts.len();
        let Some(field) = target.descriptor().get_field_by_name(name) else {
            return;
        };
        let value = target.get_field_mut(&field);
        let slot = match (value, index) {
            (prost_reflect::Value::List(items), Some(ix)) => match items.get_mut(ix) {
                Some(v) => v,
                None => return,
            },
            (v, None) => v,
            _ => return,
        };
        if last {
            *slot = prost_reflect::Value::Message(any);
            return;
        }
        match slot {
            prost_reflect::Value::Message(m) => target = m,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::google::rpc::Status;

    /// An unknown `Any` inside a repeated field, next to a known one (the placeholder for the
    /// slot must itself be valid Any JSON).
    #[test]
    fn unknown_any_in_a_list() {
        let body = br#"{"details":[
            {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R"},
            {"@type":"type.googleapis.com/x.Unknown","a":1}]}"#;
        let (status, raw): (Status, _) = from_json_lossy(body).unwrap();
        assert_eq!(status.details.len(), 2);
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].path, "details[1]");
        let kept: Status = from_json_keep_raw(body).unwrap();
        assert_eq!(raw_any_json(&kept.details[1]).unwrap()["a"], 1);
        assert_eq!(raw_any_json(&kept.details[0]), None);
    }

    /// The one-pass decoding of the usual case gives what the walk gives.
    #[test]
    fn fast_path_matches_the_walk() {
        use crate::pb::google::longrunning::Operation;
        let bodies: &[&[u8]] = &[
            br#"{"name":"projects/p/operations/A","done":true,"response":{"@type":"type.googleapis.com/google.protobuf.Empty","value":{}}}"#,
            br#"{"name":"projects/p/operations/B","metadata":{"@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata","state":"RUNNING","progress":0.5,"createTime":"2024-01-02T03:04:05.678Z","stages":[{"displayName":"S","totalWorkUnits":"3"}],"unknownField":1},"error":{"code":1,"message":"Cancelled.","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R"}]},"alsoUnknown":{}}"#,
            br#"{"name":"operations/C","done":false}"#,
        ];
        for body in bodies {
            let desc = Operation::default().descriptor();
            let walked: (Operation, Vec<RawAny>) = lossy_walk(desc, body, true).unwrap();
            let fast: (Operation, Vec<RawAny>) = lossy(body, true).unwrap();
            assert_eq!(fast, walked, "{}", String::from_utf8_lossy(body));
            assert!(fast.1.is_empty(), "{:?}", fast.1);
        }
        // Not the usual case: an unknown type still takes the walk.
        let body = br#"{"name":"x","metadata":{"@type":"type.googleapis.com/x.Unknown","a":1}}"#;
        let (op, raw): (Operation, _) = lossy(body, true).unwrap();
        assert_eq!(raw.len(), 1);
        assert_eq!(raw_any_json(op.metadata.as_ref().unwrap()).unwrap()["a"], 1);
    }
}

#[cfg(test)]
mod empty_any_tests {
    use super::*;
    use crate::pb::google::longrunning::{Operation, operation};

    #[test]
    fn an_empty_response_reads_in_googles_form_and_in_prost_reflects() {
        for body in [
            r#"{"name":"projects/p/operations/A","done":true,"response":{"@type":"type.googleapis.com/google.protobuf.Empty"}}"#,
            r#"{"name":"projects/p/operations/A","done":true,"response":{"@type":"type.googleapis.com/google.protobuf.Empty","value":{}}}"#,
        ] {
            for op in [
                from_json::<Operation>(body.as_bytes()).unwrap(),
                from_json_keep_raw::<Operation>(body.as_bytes()).unwrap(),
            ] {
                match op.result {
                    Some(operation::Result::Response(any)) => {
                        assert_eq!(any.type_url, "type.googleapis.com/google.protobuf.Empty");
                        assert!(any.value.is_empty(), "a real Empty, not kept raw: {body}");
                    }
                    other => panic!("{body}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn from_json_refuses_an_any_it_cannot_read() {
        let body = br#"{"name":"x","metadata":{"@type":"type.googleapis.com/x.Unknown","a":1}}"#;
        let err = from_json::<Operation>(body).unwrap_err();
        assert!(err.message().contains("x.Unknown"), "{err}");
        assert!(from_json_lossy::<Operation>(body).is_ok());
    }
}

#[cfg(all(test, feature = "client", feature = "server"))]
mod typed_path_tests {
    use super::*;
    use crate::pb::google::longrunning::{ListOperationsResponse, Operation};

    /// What the REST client reads with gives what `from_json_keep_raw` gives, whether the
    /// typed code reads the body or gives up on it.
    #[test]
    fn decode_response_matches_keep_raw() {
        let bodies: &[(&[u8], bool)] = &[
            // Read by the typed code.
            (br#"{"name":"projects/p/operations/A","done":true,"response":{"@type":"type.googleapis.com/google.protobuf.Empty"}}"#, true),
            (br#"{"name":"projects/p/operations/B","metadata":{"@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata","state":"RUNNING","progress":0.5,"createTime":"2024-01-02T03:04:05.678Z","stages":[{"displayName":"S","totalWorkUnits":"3"}],"unknownField":1},"error":{"code":1,"message":"Cancelled.","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","metadata":{"k":"v"}}]},"alsoUnknown":{}}"#, true),
            (br#"{"name":"operations/C","done":null,"metadata":null}"#, true),
            (br#"{"name":"projects/p/operations/D","metadata":{"@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata","state":"NOT_A_STATE_YET","priority":"7"}}"#, true),
            // Given up on by the typed code: an unknown type, `@type` not first, a value that
            // does not fit.
            (br#"{"name":"x","metadata":{"@type":"type.googleapis.com/x.Unknown","a":1}}"#, false),
            (br#"{"name":"y","metadata":{"state":"RUNNING","@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata"}}"#, false),
            (br#"{"name":"z","metadata":{"@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata","progress":"lots"}}"#, false),
        ];
        for &(body, typed_reads) in bodies {
            let text = String::from_utf8_lossy(body);
            let expected: Operation = from_json_keep_raw(body).unwrap();
            let got: Operation = decode_response(body).unwrap();
            assert_eq!(got, expected, "{text}");
            let typed = typed::read::<Operation>(body);
            assert_eq!(typed.is_ok(), typed_reads, "{text}: {typed:?}");
        }
        let list = br#"{"operations":[{"name":"a","done":true},{"name":"b"}],"nextPageToken":"t","unreachable":["u"]}"#;
        let got: ListOperationsResponse = decode_response(list).unwrap();
        assert_eq!(
            got,
            from_json_keep_raw::<ListOperationsResponse>(list).unwrap()
        );
        assert!(decode_response::<Operation>(b"[1]").is_err());
    }

    /// What the REST server writes with: the typed code, or prost-reflect when it gives up (an
    /// `Any` of a type without typed code), both with `Empty` in Google's form.
    #[test]
    fn encode_response_falls_back() {
        use prost::Message as _;
        let typed_any = prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.Empty".into(),
            value: Vec::new(),
        };
        let op = Operation {
            name: "projects/p/operations/A".into(),
            done: true,
            result: Some(crate::pb::google::longrunning::operation::Result::Response(
                typed_any,
            )),
            ..Default::default()
        };
        let mut out = Vec::new();
        encode_response(&op, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"name":"projects/p/operations/A","done":true,"response":{"@type":"type.googleapis.com/google.protobuf.Empty"}}"#
        );
        // google.api.HttpRule has no typed code: prost-reflect writes it.
        let rule = crate::pb::google::api::HttpRule {
            selector: "s".into(),
            ..Default::default()
        };
        let op = Operation {
            name: "n".into(),
            metadata: Some(prost_types::Any {
                type_url: "type.googleapis.com/google.api.HttpRule".into(),
                value: rule.encode_to_vec(),
            }),
            ..Default::default()
        };
        let mut out = b"prefix".to_vec();
        encode_response(&op, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let json: Json = serde_json::from_str(text.strip_prefix("prefix").unwrap()).unwrap();
        assert_eq!(json["metadata"]["selector"], "s");
        assert_eq!(json["name"], "n");
    }
}
