//! Mapping between HTTP requests and protobuf request messages, through `prost-reflect`.
//!
//! Per `google.api.HttpRule`: fields bound in the path travel in the path; with `body: "*"`
//! every other field travels in the JSON body; with `body: "field"` that field is the body and
//! the remaining fields are query parameters; with no body, every field not in the path is a
//! query parameter (nested messages flattened as `a.b`, repeated fields repeated).
//!
//! Decisions, for the server side ([`decode_request`]):
//!
//! * Fields are set in this order: query parameters, then the body, then path variables. So a
//!   path variable wins over the same field in the body or query (Google's behaviour), and the
//!   body wins over the query.
//! * An empty or whitespace-only body sets no fields; a body sent to a binding without a body
//!   rule is ignored.
//! * A query parameter names a field by its JSON name or its proto name; one that names no
//!   field, and is not in `ignored_params`, is refused. A singular field given twice is
//!   refused; a repeated field collects every occurrence. `+` in a query means a space (unless
//!   [`RouterOptions::query_plus_as_space`](super::RouterOptions::query_plus_as_space) is off).
//! * Unknown fields in a JSON body are refused.

use crate::codec::{base64_decode, base64_encode};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};

use super::binding::HttpBinding;
use super::router::{CompiledBinding, RouteMatch};
use super::template::ExpandError;

/// Why a request could not be mapped between HTTP and its message.
///
/// [`is_bad_name`](Self::is_bad_name) tells a client that a path field (usually the operation
/// name) was refused before anything was sent; [`is_invalid_argument`](Self::is_invalid_argument)
/// tells a server that the request is at fault (an `INVALID_ARGUMENT` answer).
///
/// ```
/// use eeops::transcode::TranscodeError;
///
/// let err = TranscodeError::UnknownParameter { name: "pagesize".into() };
/// assert!(err.is_invalid_argument());
/// assert!(!err.is_bad_name());
/// assert_eq!(err.to_string(), "unknown query parameter `pagesize`");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// A path field's value does not fit the binding's pattern (client side).
    #[error("invalid request: {0}")]
    BadName(#[from] ExpandError),
    /// A query parameter that names no field of the request.
    #[error("unknown query parameter `{name}`")]
    UnknownParameter {
        /// The parameter as sent.
        name: String,
    },
    /// A query parameter whose value does not parse as its field's type.
    #[error("invalid value `{value}` for query parameter `{name}`: {reason}")]
    BadParameter {
        /// The parameter as sent.
        name: String,
        /// The value as sent (decoded).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A singular field given more than once in the query.
    #[error("query parameter `{name}` given more than once")]
    RepeatedParameter {
        /// The parameter as sent.
        name: String,
    },
    /// A query string that is not valid percent-encoded UTF-8.
    #[error("malformed query string: {reason}")]
    BadQuery {
        /// What is wrong.
        reason: String,
    },
    /// A body that is not valid JSON for the request message.
    #[error("invalid JSON body: {reason}")]
    BadBody {
        /// What is wrong (the JSON parser's message).
        reason: String,
    },
    /// A field that cannot travel where the binding puts it, e.g. a map or a repeated message
    /// as query parameters.
    #[error("field `{field}` cannot be transcoded: {reason}")]
    Unsupported {
        /// The field path.
        field: String,
        /// Why.
        reason: String,
    },
    /// The binding does not fit the message: a field it names does not exist, or its HTTP
    /// method is not valid.
    #[error("binding does not fit the message: {reason}")]
    Binding {
        /// What does not fit.
        reason: String,
    },
}

impl TranscodeError {
    /// Whether a path field was refused by its pattern on the client side (see
    /// [`bad_name`](Self::bad_name) for the field, value and expected form).
    pub fn is_bad_name(&self) -> bool {
        matches!(self, TranscodeError::BadName(_))
    }

    /// The refused path field, its value and its expected form, for a
    /// [`BadName`](Self::BadName) error.
    pub fn bad_name(&self) -> Option<&ExpandError> {
        match self {
            TranscodeError::BadName(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the request itself is at fault (a server answers `INVALID_ARGUMENT`), as
    /// opposed to a binding that does not fit its message (an internal error).
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(
            self,
            TranscodeError::Binding { .. } | TranscodeError::Unsupported { .. }
        )
    }
}

/// A request message mapped onto HTTP, ready for a client to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequestParts {
    /// The HTTP method.
    pub method: http::Method,
    /// The path, already percent-encoded.
    pub path: String,
    /// Query parameters, not yet encoded (see [`path_and_query`](Self::path_and_query)).
    pub query: Vec<(String, String)>,
    /// The message to send as the JSON body, if the binding has a body.
    pub body: Option<DynamicMessage>,
}

impl HttpRequestParts {
    /// The path followed by the encoded query (`?k=v&...`, or nothing when there is none).
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let mut out = String::with_capacity(self.path.len() + 32 * self.query.len());
        out.push_str(&self.path);
        out.push('?');
        out.push_str(&encode_query(&self.query));
        out
    }
}

/// Encodes query parameters as `k=v&k=v`, escaping every byte of keys and values outside
/// `[-_.~0-9A-Za-z]` (a space becomes `%20`).
///
/// ```
/// let q = eeops::transcode::encode_query(&[
///     ("filter".to_string(), "done = true".to_string()),
///     ("pageSize".to_string(), "10".to_string()),
/// ]);
/// assert_eq!(q, "filter=done%20%3D%20true&pageSize=10");
/// ```
#[doc(hidden)]
pub fn encode_query(pairs: &[(String, String)]) -> String {
    crate::codec::encode_query(pairs)
}

/// Maps a request message onto its binding: path, query parameters and body (client side).
///
/// Path fields are checked against their patterns first: a value that does not fit gives a
/// [`TranscodeError::BadName`] and nothing is built. Query parameters are named by JSON name;
/// enums go by name, `Duration`/`Timestamp`/`FieldMask` and wrappers in their proto3 JSON
/// string form, bytes in base64.
///
/// ```
/// use eeops::transcode::{encode_request, CompiledBinding, HttpBinding};
/// use prost_reflect::{DynamicMessage, Value};
/// # use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto,
/// #     field_descriptor_proto::{Label, Type}};
/// # let field = |name: &str, number, ty: Type| FieldDescriptorProto {
/// #     name: Some(name.into()), number: Some(number), label: Some(Label::Optional as i32),
/// #     r#type: Some(ty as i32), ..Default::default() };
/// # let file = FileDescriptorProto {
/// #     name: Some("doc.proto".into()), package: Some("doc".into()), syntax: Some("proto3".into()),
/// #     message_type: vec![DescriptorProto {
/// #         name: Some("ListOperationsRequest".into()),
/// #         field: vec![field("name", 4, Type::String), field("page_size", 2, Type::Int32)],
/// #         ..Default::default() }],
/// #     ..Default::default() };
/// # let mut pool = prost_reflect::DescriptorPool::new();
/// # pool.add_file_descriptor_proto(file)?;
/// let desc = pool.get_message_by_name("doc.ListOperationsRequest").unwrap();
///
/// static LIST: HttpBinding = HttpBinding {
///     method: "google.longrunning.Operations.ListOperations",
///     http_method: "GET",
///     template: "/v1/{name=projects/*}/operations",
///     body: "",
///     response_body: "",
///     api_version: "v1",
/// };
/// let binding = CompiledBinding::new(&LIST)?;
///
/// let mut msg = DynamicMessage::new(desc);
/// msg.set_field_by_name("name", Value::String("projects/p".into()));
/// msg.set_field_by_name("page_size", Value::I32(50));
/// let parts = encode_request(&binding, &msg)?;
/// assert_eq!(parts.path_and_query(), "/v1/projects/p/operations?pageSize=50");
/// assert!(parts.body.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_request(
    binding: &CompiledBinding,
    msg: &DynamicMessage,
) -> Result<HttpRequestParts, TranscodeError> {
    let rule = binding.binding();
    let method = http::Method::from_bytes(rule.http_method.as_bytes()).map_err(|_| {
        TranscodeError::Binding {
            reason: format!("`{}` is not an HTTP method", rule.http_method),
        }
    })?;
    let template = binding.template();
    let path = template.expand(|field_path| path_value(msg, field_path))?;
    let path_fields: Vec<&str> = template
        .variables()
        .iter()
        .map(|v| v.field_path())
        .collect();

    let mut query = Vec::new();
    let body = match rule.body {
        "" => {
            flatten(msg, "", "", &path_fields, &mut query)?;
            None
        }
        "*" => {
            let mut body = msg.clone();
            for field_path in &path_fields {
                clear_path(&mut body, field_path);
            }
            Some(body)
        }
        field_name => {
            let fd = msg
                .descriptor()
                .get_field_by_name(field_name)
                .ok_or_else(|| TranscodeError::Binding {
                    reason: format!(
                        "body field `{field_name}` is not a field of {}",
                        msg.descriptor().full_name()
                    ),
                })?;
            let body = match (fd.kind(), fd.is_list() || fd.is_map()) {
                (Kind::Message(_), false) => match msg.get_field(&fd).as_message() {
                    Some(m) => m.clone(),
                    None => {
                        return Err(TranscodeError::Binding {
                            reason: format!("body field `{field_name}` holds no message"),
                        });
                    }
                },
                _ => {
                    return Err(TranscodeError::Unsupported {
                        field: field_name.to_owned(),
                        reason: "only a singular message field can be sent as the body".into(),
                    });
                }
            };
            let mut skip = path_fields.clone();
            skip.push(field_name);
            flatten(msg, "", "", &skip, &mut query)?;
            Some(body)
        }
    };
    Ok(HttpRequestParts {
        method,
        path,
        query,
        body,
    })
}

/// [`encode_request`] for a request whose only field is `name` (get, cancel and delete), without
/// going through a dynamic message: the path from the name, no query, no body (with a `*`
/// body, the message left once the name is in the path is empty, and a client sends none).
///
/// `None` when the binding is not of that plain shape (its only path variable is `name`, its
/// body is empty or `*`): use [`encode_request`] then.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) fn encode_name_request(
    binding: &CompiledBinding,
    name: &str,
) -> Option<Result<HttpRequestParts, TranscodeError>> {
    let rule = binding.binding();
    let template = binding.template();
    let plain = matches!(rule.body, "" | "*")
        && matches!(template.variables(), [only] if only.field_path() == "name");
    if !plain {
        return None;
    }
    let method = http::Method::from_bytes(rule.http_method.as_bytes()).ok()?;
    Some(
        template
            .expand(|field_path| (field_path == "name").then_some(name))
            .map(|path| HttpRequestParts {
                method,
                path,
                query: Vec::new(),
                body: None,
            })
            .map_err(TranscodeError::from),
    )
}

/// The text of the field at `field_path` (proto names joined by `.`), for a path variable.
/// `None` when the field does not exist or is not a scalar.
fn path_value(msg: &DynamicMessage, field_path: &str) -> Option<String> {
    let (parents, leaf) = match field_path.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, field_path),
    };
    let mut current = std::borrow::Cow::Borrowed(msg);
    if let Some(parents) = parents {
        for name in parents.split('.') {
            let fd = current.descriptor().get_field_by_name(name)?;
            let next = current.get_field(&fd).as_message()?.clone();
            current = std::borrow::Cow::Owned(next);
        }
    }
    let fd = current.descriptor().get_field_by_name(leaf)?;
    if fd.is_list() || fd.is_map() {
        return None;
    }
    let value = current.get_field(&fd);
    if let (Some(n), Kind::Enum(e)) = (value.as_enum_number(), fd.kind()) {
        return Some(
            e.get_value(n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned()),
        );
    }
    scalar_text(&value)
}

/// Clears the field at `field_path` (proto names joined by `.`), if present.
fn clear_path(msg: &mut DynamicMessage, field_path: &str) {
    match field_path.split_once('.') {
        None => msg.clear_field_by_name(field_path),
        Some((head, rest)) => {
            let Some(fd) = msg.descriptor().get_field_by_name(head) else {
                return;
            };
            if !msg.has_field(&fd) {
                return;
            }
            if let Some(child) = msg.get_field_mut(&fd).as_message_mut() {
                clear_path(child, rest);
            }
        }
    }
}

/// Whether a message type travels as a single JSON value (and so as one query parameter).
pub(super) fn is_scalar_wkt(desc: &MessageDescriptor) -> bool {
    matches!(
        desc.full_name(),
        "google.protobuf.Duration"
            | "google.protobuf.Timestamp"
            | "google.protobuf.FieldMask"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

/// Writes every set field of `msg` (except those in `skip`, by proto path) as query pairs.
/// `proto_prefix` / `json_prefix` are the paths of `msg` itself, with a trailing `.`.
fn flatten(
    msg: &DynamicMessage,
    proto_prefix: &str,
    json_prefix: &str,
    skip: &[&str],
    out: &mut Vec<(String, String)>,
) -> Result<(), TranscodeError> {
    for (fd, value) in msg.fields() {
        let proto_path = format!("{proto_prefix}{}", fd.name());
        if skip.contains(&proto_path.as_str()) {
            continue;
        }
        let json_path = format!("{json_prefix}{}", fd.json_name());
        if fd.is_map() {
            return Err(TranscodeError::Unsupported {
                field: proto_path,
                reason: "a map cannot be sent as query parameters".into(),
            });
        }
        if let Some(items) = value.as_list() {
            for item in items {
                match query_text(&fd, item)? {
                    Some(text) => out.push((json_path.clone(), text)),
                    None => {
                        return Err(TranscodeError::Unsupported {
                            field: proto_path,
                            reason: "a repeated message cannot be sent as query parameters".into(),
                        });
                    }
                }
            }
            continue;
        }
        match query_text(&fd, value)? {
            Some(text) => out.push((json_path, text)),
            None => {
                if let Some(child) = value.as_message() {
                    // Skip paths reaching into this message keep applying below it.
                    let child_proto = format!("{proto_path}.");
                    let child_json = format!("{json_path}.");
                    flatten(child, &child_proto, &child_json, skip, out)?;
                }
            }
        }
    }
    Ok(())
}

/// The query text of one (non-list) value; `None` for a message to flatten further.
fn query_text(fd: &FieldDescriptor, value: &Value) -> Result<Option<String>, TranscodeError> {
    match (value, fd.kind()) {
        (Value::EnumNumber(n), Kind::Enum(e)) => Ok(Some(
            e.get_value(*n)
                .map_or_else(|| n.to_string(), |v| v.name().to_owned()),
        )),
        (Value::Message(m), Kind::Message(desc)) if is_scalar_wkt(&desc) => {
            let json = serde_json::to_value(m).map_err(|e| TranscodeError::Unsupported {
                field: fd.full_name().to_owned(),
                reason: e.to_string(),
            })?;
            match json {
                serde_json::Value::String(s) => Ok(Some(s)),
                serde_json::Value::Number(n) => Ok(Some(n.to_string())),
                serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
                other => Err(TranscodeError::Unsupported {
                    field: fd.full_name().to_owned(),
                    reason: format!("unexpected JSON form {other}"),
                }),
            }
        }
        (Value::Message(_), _) => Ok(None),
        (v, _) => Ok(scalar_text(v)),
    }
}

/// The proto3 JSON text of a scalar value, unquoted.
fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(x) => float_text(f64::from(*x)),
        Value::F64(x) => float_text(*x),
        Value::String(s) => s.clone(),
        Value::Bytes(b) => base64_encode(b),
        Value::EnumNumber(n) => n.to_string(),
        Value::Message(_) | Value::List(_) | Value::Map(_) => return None,
    })
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        x.to_string()
    }
}

/// Maps an HTTP request onto its message (server side): query parameters, then the body, then
/// the path variables (see the [`transcode`](crate::transcode) module for the rules).
///
/// `query` is the raw query string (without `?`), `body` the raw body, and `ignored_params`
/// the query parameters to skip (system parameters such as `alt`, `$alt`, `prettyPrint`,
/// `key`, `$.xgafv`, `fields`, ...).
///
/// ```
/// use eeops::transcode::{decode_request, HttpBinding, Router};
/// # use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto,
/// #     field_descriptor_proto::{Label, Type}};
/// # let field = |name: &str, number, ty: Type| FieldDescriptorProto {
/// #     name: Some(name.into()), number: Some(number), label: Some(Label::Optional as i32),
/// #     r#type: Some(ty as i32), ..Default::default() };
/// # let file = FileDescriptorProto {
/// #     name: Some("doc.proto".into()), package: Some("doc".into()), syntax: Some("proto3".into()),
/// #     message_type: vec![DescriptorProto {
/// #         name: Some("ListOperationsRequest".into()),
/// #         field: vec![field("name", 4, Type::String), field("page_size", 2, Type::Int32)],
/// #         ..Default::default() }],
/// #     ..Default::default() };
/// # let mut pool = prost_reflect::DescriptorPool::new();
/// # pool.add_file_descriptor_proto(file)?;
/// let desc = pool.get_message_by_name("doc.ListOperationsRequest").unwrap();
///
/// static BINDINGS: &[HttpBinding] = &[HttpBinding {
///     method: "google.longrunning.Operations.ListOperations",
///     http_method: "GET",
///     template: "/v1/{name=projects/*}/operations",
///     body: "",
///     response_body: "",
///     api_version: "v1",
/// }];
/// let router = Router::new(BINDINGS)?;
/// let route = router.route("GET", "/v1/projects/p/operations").unwrap();
///
/// let msg = decode_request(&route, &desc, Some("pageSize=7&alt=json"), b"", &["alt"])?;
/// assert_eq!(msg.get_field_by_name("page_size").unwrap().as_i32(), Some(7));
/// assert_eq!(msg.get_field_by_name("name").unwrap().as_str(), Some("projects/p"));
///
/// let err = decode_request(&route, &desc, Some("pagesize=7"), b"", &[]).unwrap_err();
/// assert!(err.to_string().contains("pagesize"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_request(
    route: &RouteMatch<'_>,
    desc: &MessageDescriptor,
    query: Option<&str>,
    body: &[u8],
    ignored_params: &[&str],
) -> Result<DynamicMessage, TranscodeError> {
    let mut msg = DynamicMessage::new(desc.clone());

    if let Some(query) = query {
        let plus_as_space = route.options.query_plus_as_space;
        let mut seen: Vec<String> = Vec::new();
        for (raw_key, raw_value) in crate::codec::query_pairs(query) {
            let key = form_decode(raw_key, plus_as_space)?;
            if ignored_params.contains(&key.as_str()) {
                continue;
            }
            let value = form_decode(raw_value, plus_as_space)?;
            set_query_param(&mut msg, &key, &value, &mut seen)?;
        }
    }

    let rule = route.binding.body;
    if !rule.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| TranscodeError::BadBody {
                reason: e.to_string(),
            })?;
        if rule == "*" {
            let parsed = DynamicMessage::deserialize(desc.clone(), json).map_err(|e| {
                TranscodeError::BadBody {
                    reason: e.to_string(),
                }
            })?;
            let mut parsed = parsed;
            for (fd, value) in parsed.take_fields() {
                msg.set_field(&fd, value);
            }
        } else {
            let fd = desc
                .get_field_by_name(rule)
                .ok_or_else(|| TranscodeError::Binding {
                    reason: format!("body field `{rule}` is not a field of {}", desc.full_name()),
                })?;
            let wrapped = serde_json::Value::Object(
                [(fd.json_name().to_owned(), json)].into_iter().collect(),
            );
            let mut parsed = DynamicMessage::deserialize(desc.clone(), wrapped).map_err(|e| {
                TranscodeError::BadBody {
                    reason: e.to_string(),
                }
            })?;
            if let Some(value) = parsed.take_field(&fd) {
                msg.set_field(&fd, value);
            }
        }
    }

    for (field_path, value) in &route.variables {
        let (fd, target) =
            resolve_mut(&mut msg, field_path, false).map_err(|_| TranscodeError::Binding {
                reason: format!(
                    "path variable `{field_path}` is not a field of {}",
                    desc.full_name()
                ),
            })?;
        if fd.is_list() || fd.is_map() {
            return Err(TranscodeError::Binding {
                reason: format!("path variable `{field_path}` is a repeated field"),
            });
        }
        let parsed = parse_value(&fd, value).map_err(|reason| TranscodeError::BadParameter {
            name: field_path.clone(),
            value: value.clone(),
            reason,
        })?;
        target.set_field(&fd, parsed);
    }
    Ok(msg)
}

/// The field a binding's `response_body` names, or `None` for the whole message.
fn response_field(
    binding: &HttpBinding,
    desc: &MessageDescriptor,
) -> Result<Option<FieldDescriptor>, TranscodeError> {
    match binding.response_body {
        "" => Ok(None),
        name => desc
            .get_field_by_name(name)
            .map(Some)
            .ok_or_else(|| TranscodeError::Binding {
                reason: format!(
                    "response_body `{name}` is not a field of {}",
                    desc.full_name()
                ),
            }),
    }
}

/// The JSON body of an HTTP response for a response message (server side), per the binding's
/// `response_body`: the whole message, or the value of the field it names (an unset field
/// gives its default: `{}`, `[]`, `0`, `""`, ...).
///
/// ```
/// use eeops::transcode::{HttpBinding, decode_response, encode_response};
/// use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};
/// # use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto,
/// #     field_descriptor_proto::{Label, Type}};
/// # let file = FileDescriptorProto {
/// #     name: Some("doc.proto".into()), package: Some("doc".into()), syntax: Some("proto3".into()),
/// #     message_type: vec![DescriptorProto {
/// #         name: Some("ListResponse".into()),
/// #         field: vec![FieldDescriptorProto {
/// #             name: Some("names".into()), number: Some(1), label: Some(Label::Repeated as i32),
/// #             r#type: Some(Type::String as i32), ..Default::default() }],
/// #         ..Default::default() }],
/// #     ..Default::default() };
/// # let mut pool = prost_reflect::DescriptorPool::new();
/// # pool.add_file_descriptor_proto(file)?;
/// let desc = pool.get_message_by_name("doc.ListResponse").unwrap();
/// static LIST: HttpBinding = HttpBinding {
///     method: "doc.Svc.List",
///     http_method: "GET",
///     template: "/v1/names",
///     body: "",
///     response_body: "names",
///     api_version: "",
/// };
/// let msg = DynamicMessage::deserialize(desc.clone(), serde_json::json!({"names": ["a", "b"]}))?;
/// let json = encode_response(&LIST, &msg, &SerializeOptions::new())?;
/// assert_eq!(json, serde_json::json!(["a", "b"]));
/// let back = decode_response(&LIST, &desc, json, &DeserializeOptions::new())?;
/// assert_eq!(back, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_response(
    binding: &HttpBinding,
    msg: &DynamicMessage,
    options: &SerializeOptions,
) -> Result<serde_json::Value, TranscodeError> {
    let serialize = |m: &DynamicMessage, options: &SerializeOptions| {
        m.serialize_with_options(serde_json::value::Serializer, options)
            .map_err(|e| TranscodeError::Unsupported {
                field: binding.response_body.to_owned(),
                reason: e.to_string(),
            })
    };
    let desc = msg.descriptor();
    let Some(fd) = response_field(binding, &desc)? else {
        return serialize(msg, options);
    };
    let value = msg.get_field(&fd);
    if let (Some(inner), false) = (value.as_message(), fd.is_list() || fd.is_map()) {
        return serialize(inner, options);
    }
    // A scalar, list or map: serialized inside a message holding only it, then taken out.
    let mut only = DynamicMessage::new(desc);
    only.set_field(&fd, value.into_owned());
    let options = if fd.is_list() || fd.is_map() {
        options.clone()
    } else {
        // An unset scalar still has a value to send: its default.
        options.clone().skip_default_fields(false)
    };
    let mut json = serialize(&only, &options)?;
    // The field's entry, under whichever name the options give it (with defaults written,
    // the other fields have entries too).
    let taken = json
        .as_object_mut()
        .and_then(|o| o.remove(fd.json_name()).or_else(|| o.remove(fd.name())));
    Ok(match taken {
        Some(v) => v,
        None if fd.is_map() => serde_json::Value::Object(Default::default()),
        None => serde_json::Value::Array(Vec::new()),
    })
}

/// The response message from the JSON body of an HTTP response (client side), per the
/// binding's `response_body`: the whole message, or the value of the field it names. See
/// [`encode_response`] for an example.
pub fn decode_response(
    binding: &HttpBinding,
    desc: &MessageDescriptor,
    json: serde_json::Value,
    options: &DeserializeOptions,
) -> Result<DynamicMessage, TranscodeError> {
    let json = match response_field(binding, desc)? {
        None => json,
        Some(fd) => {
            serde_json::Value::Object([(fd.json_name().to_owned(), json)].into_iter().collect())
        }
    };
    DynamicMessage::deserialize_with_options(desc.clone(), json, options).map_err(|e| {
        TranscodeError::BadBody {
            reason: e.to_string(),
        }
    })
}

/// The field `name` of `desc`: by its proto name, or with `json` by its JSON name first.
pub(super) fn field_by_name(
    desc: &MessageDescriptor,
    name: &str,
    json: bool,
) -> Option<FieldDescriptor> {
    if json {
        desc.get_field_by_json_name(name)
            .or_else(|| desc.get_field_by_name(name))
    } else {
        desc.get_field_by_name(name)
    }
}

/// Finds the leaf field of a dotted path (JSON or proto names), creating the intermediate
/// messages, and returns it with the message that holds it. `Err(())` when a name is unknown
/// or an intermediate is not a singular message. With `json`, JSON names are tried first.
fn resolve_mut<'m>(
    msg: &'m mut DynamicMessage,
    path: &str,
    json: bool,
) -> Result<(FieldDescriptor, &'m mut DynamicMessage), ()> {
    let lookup = |desc: &MessageDescriptor, name: &str| field_by_name(desc, name, json);
    let mut current = msg;
    let mut names = path.split('.').peekable();
    loop {
        let name = names.next().ok_or(())?;
        let fd = lookup(&current.descriptor(), name).ok_or(())?;
        if names.peek().is_none() {
            return Ok((fd, current));
        }
        if fd.is_list() || fd.is_map() {
            return Err(());
        }
        match fd.kind() {
            Kind::Message(m) if !is_scalar_wkt(&m) => {}
            _ => return Err(()),
        }
        current = current.get_field_mut(&fd).as_message_mut().ok_or(())?;
    }
}

fn set_query_param(
    msg: &mut DynamicMessage,
    key: &str,
    value: &str,
    seen: &mut Vec<String>,
) -> Result<(), TranscodeError> {
    let (fd, target) =
        resolve_mut(msg, key, true).map_err(|_| TranscodeError::UnknownParameter {
            name: key.to_owned(),
        })?;
    if fd.is_map() {
        return Err(TranscodeError::UnknownParameter {
            name: key.to_owned(),
        });
    }
    if let Kind::Message(m) = fd.kind()
        && !is_scalar_wkt(&m)
    {
        return Err(TranscodeError::BadParameter {
            name: key.to_owned(),
            value: value.to_owned(),
            reason: format!("field is a message ({}), not a value", m.full_name()),
        });
    }
    let parsed = parse_value(&fd, value).map_err(|reason| TranscodeError::BadParameter {
        name: key.to_owned(),
        value: value.to_owned(),
        reason,
    })?;
    if fd.is_list() {
        if let Some(list) = target.get_field_mut(&fd).as_list_mut() {
            list.push(parsed);
        }
        return Ok(());
    }
    let canonical = fd.full_name().to_owned();
    if seen.contains(&canonical) {
        return Err(TranscodeError::RepeatedParameter {
            name: key.to_owned(),
        });
    }
    seen.push(canonical);
    target.set_field(&fd, parsed);
    Ok(())
}

/// Parses the text of one value of `fd` (one element, for a repeated field).
fn parse_value(fd: &FieldDescriptor, text: &str) -> Result<Value, String> {
    parse_kind(&fd.kind(), text)
}

pub(super) fn parse_kind(kind: &Kind, text: &str) -> Result<Value, String> {
    fn num<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
        text.parse::<T>().map_err(|_| format!("expected {what}"))
    }
    Ok(match kind {
        Kind::Double => Value::F64(parse_float(text)?),
        Kind::Float => Value::F32(parse_float(text)? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(num(text, "a 32-bit integer")?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(num(text, "a 64-bit integer")?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(num(text, "an unsigned 32-bit integer")?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(num(text, "an unsigned 64-bit integer")?),
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err("expected `true` or `false`".into()),
        },
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(base64_decode(text).ok_or("expected base64")?.into()),
        Kind::Enum(e) => match e.get_value_by_name(text) {
            Some(v) => Value::EnumNumber(v.number()),
            None => match text.parse::<i32>() {
                Ok(n) => Value::EnumNumber(n),
                Err(_) => {
                    let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                    return Err(format!("expected one of {}", names.join(", ")));
                }
            },
        },
        Kind::Message(m) if is_scalar_wkt(m) => {
            if let Some(inner) = m
                .full_name()
                .ends_with("Value")
                .then(|| m.get_field_by_name("value"))
                .flatten()
            {
                // A wrapper: the wrapped scalar decides.
                let mut wrapper = DynamicMessage::new(m.clone());
                wrapper.set_field(&inner, parse_kind(&inner.kind(), text)?);
                return Ok(Value::Message(wrapper));
            }
            let json = serde_json::Value::String(text.to_owned());
            Value::Message(DynamicMessage::deserialize(m.clone(), json).map_err(|e| e.to_string())?)
        }
        Kind::Message(m) => return Err(format!("field is a message ({})", m.full_name())),
    })
}

fn parse_float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| "expected a number".to_owned()),
    }
}

/// Decodes one key or value of a query string: `%XX` is an escaped byte, and `+` a space
/// when `plus_as_space` (HTML form encoding; [`RouterOptions::query_plus_as_space`]).
/// A malformed escape or a result that is not UTF-8 is refused.
///
/// [`RouterOptions::query_plus_as_space`]: super::RouterOptions::query_plus_as_space
pub(super) fn form_decode(raw: &str, plus_as_space: bool) -> Result<String, TranscodeError> {
    use crate::codec::{DecodeError, decode_strict};
    match decode_strict(raw, plus_as_space, |_| false) {
        Ok(text) => Ok(text.into_owned()),
        Err(DecodeError::Malformed) => Err(TranscodeError::BadQuery {
            reason: format!("bad percent-escape in `{raw}`"),
        }),
        Err(DecodeError::NotUtf8) => Err(TranscodeError::BadQuery {
            reason: format!("`{raw}` does not decode to UTF-8"),
        }),
    }
}

#[cfg(test)]
mod tests {
    /// (HTTP method, path, query, body, message, text in the error)
    type DecodeErrorCase = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        &'static str,
    );
    /// (HTTP method, path, query, body, message, expected message JSON)
    type DecodeCase = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        serde_json::Value,
    );
    use super::*;
    use crate::transcode::{HttpBinding, Router};
    use proptest::prelude::*;
    use prost_reflect::DescriptorPool;
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
        FileDescriptorProto, MessageOptions,
    };
    use std::sync::OnceLock;

    fn field(name: &str, number: i32, ty: Type) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(ty as i32),
            json_name: None,
            ..Default::default()
        }
    }

    fn typed(name: &str, number: i32, ty: Type, type_name: &str) -> FieldDescriptorProto {
        FieldDescriptorProto {
            type_name: Some(type_name.into()),
            ..field(name, number, ty)
        }
    }

    fn repeated(f: FieldDescriptorProto) -> FieldDescriptorProto {
        FieldDescriptorProto {
            label: Some(Label::Repeated as i32),
            ..f
        }
    }

    fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
        DescriptorProto {
            name: Some(name.into()),
            field: fields,
            ..Default::default()
        }
    }

    fn pool() -> &'static DescriptorPool {
        static POOL: OnceLock<DescriptorPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let mut search = message(
                "SearchRequest",
                vec![
                    field("parent", 1, Type::String),
                    typed("inner", 2, Type::Message, ".test.v1.Inner"),
                    repeated(field("tags", 3, Type::String)),
                    typed("color", 4, Type::Enum, ".test.v1.Color"),
                    repeated(field("ids", 5, Type::Int32)),
                    field("ratio", 6, Type::Double),
                    field("blob", 7, Type::Bytes),
                    repeated(typed(
                        "labels",
                        8,
                        Type::Message,
                        ".test.v1.SearchRequest.LabelsEntry",
                    )),
                    repeated(typed("items", 9, Type::Message, ".test.v1.Inner")),
                    typed("payload", 10, Type::Message, ".test.v1.Inner"),
                    typed("limit", 11, Type::Message, ".google.protobuf.Int32Value"),
                ],
            );
            search.nested_type.push(DescriptorProto {
                options: Some(MessageOptions {
                    map_entry: Some(true),
                    ..Default::default()
                }),
                ..message(
                    "LabelsEntry",
                    vec![
                        field("key", 1, Type::String),
                        field("value", 2, Type::String),
                    ],
                )
            });
            let file = FileDescriptorProto {
                name: Some("test/v1/test.proto".into()),
                package: Some("test.v1".into()),
                syntax: Some("proto3".into()),
                dependency: vec![
                    "google/protobuf/duration.proto".into(),
                    "google/protobuf/timestamp.proto".into(),
                    "google/protobuf/wrappers.proto".into(),
                ],
                message_type: vec![
                    message(
                        "ListOperationsRequest",
                        vec![
                            field("name", 4, Type::String),
                            field("filter", 1, Type::String),
                            field("page_size", 2, Type::Int32),
                            field("page_token", 3, Type::String),
                            field("return_partial_success", 5, Type::Bool),
                        ],
                    ),
                    message(
                        "WaitOperationRequest",
                        vec![
                            field("name", 1, Type::String),
                            typed("timeout", 2, Type::Message, ".google.protobuf.Duration"),
                        ],
                    ),
                    message(
                        "CancelOperationRequest",
                        vec![field("name", 1, Type::String)],
                    ),
                    message(
                        "Inner",
                        vec![
                            field("a", 1, Type::String),
                            field("b", 2, Type::Int64),
                            typed("at", 3, Type::Message, ".google.protobuf.Timestamp"),
                        ],
                    ),
                    search,
                ],
                enum_type: vec![EnumDescriptorProto {
                    name: Some("Color".into()),
                    value: ["COLOR_UNSPECIFIED", "RED", "BLUE"]
                        .iter()
                        .zip(0..)
                        .map(|(n, i)| EnumValueDescriptorProto {
                            name: Some((*n).into()),
                            number: Some(i),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let mut pool = DescriptorPool::global();
            if let Err(e) = pool.add_file_descriptor_proto(file) {
                panic!("{e}");
            }
            pool
        })
    }

    fn desc(name: &str) -> MessageDescriptor {
        match pool().get_message_by_name(&format!("test.v1.{name}")) {
            Some(d) => d,
            None => panic!("no message {name}"),
        }
    }

    const fn rule(
        method: &'static str,
        http_method: &'static str,
        template: &'static str,
        body: &'static str,
    ) -> HttpBinding {
        HttpBinding {
            method,
            http_method,
            template,
            body,
            response_body: "",
            api_version: "v1",
        }
    }

    static BINDINGS: &[HttpBinding] = &[
        rule("List", "GET", "/v1/{name=projects/*}/operations", ""),
        rule(
            "Wait",
            "POST",
            "/v1/{name=projects/*/operations/**}:wait",
            "*",
        ),
        rule(
            "Cancel",
            "POST",
            "/v1/{name=projects/*/operations/**}:cancel",
            "*",
        ),
        rule("Search", "GET", "/v1/{parent=projects/*}/search", ""),
        rule(
            "SearchPost",
            "POST",
            "/v1/{parent=projects/*}/search",
            "payload",
        ),
        rule("Look", "GET", "/v1/{inner.a=things/*}:look", ""),
        rule("BadMethod", "NOT A METHOD", "/v1/bad", ""),
        rule("BadBody", "POST", "/v1/bad/{parent}", "nope"),
        rule("ScalarBody", "POST", "/v1/scalar/{parent}", "tags"),
    ];

    fn router() -> &'static Router {
        static ROUTER: OnceLock<Router> = OnceLock::new();
        ROUTER.get_or_init(|| match Router::new(BINDINGS) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        })
    }

    fn binding(method: &str) -> &'static CompiledBinding {
        match router().find(method, "v1") {
            Some(b) => b,
            None => panic!("no binding {method}"),
        }
    }

    #[test]
    fn name_request_takes_plain_bindings_only() {
        static CANCEL: HttpBinding = HttpBinding {
            method: "google.longrunning.Operations.CancelOperation",
            http_method: "POST",
            template: "/v1/{name=projects/*/operations/**}:cancel",
            body: "*",
            response_body: "",
            api_version: "v1",
        };
        static LIST: HttpBinding = HttpBinding {
            method: "google.longrunning.Operations.ListOperations",
            http_method: "GET",
            template: "/v1/{name=projects/*}/operations/{filter}",
            body: "",
            response_body: "",
            api_version: "v1",
        };
        let cancel = CompiledBinding::new(&CANCEL).unwrap();
        let parts = encode_name_request(&cancel, "projects/p/operations/A")
            .unwrap()
            .unwrap();
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.path, "/v1/projects/p/operations/A:cancel");
        assert!(parts.body.is_none() && parts.query.is_empty());
        let err = encode_name_request(&cancel, "operations/A")
            .unwrap()
            .unwrap_err();
        assert!(err.is_bad_name(), "{err}");
        // Two path variables: not the plain shape.
        let list = CompiledBinding::new(&LIST).unwrap();
        assert!(encode_name_request(&list, "projects/p").is_none());
    }

    /// Builds a message from `(field, json value)` pairs through proto3 JSON.
    fn msg(name: &str, json: serde_json::Value) -> DynamicMessage {
        match DynamicMessage::deserialize(desc(name), json) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    fn to_json(m: &DynamicMessage) -> serde_json::Value {
        match serde_json::to_value(m) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encode_cases() {
        use serde_json::json;
        // (binding, message, request message JSON, path and query, body JSON)
        let cases: &[(
            &str,
            &str,
            serde_json::Value,
            &str,
            Option<serde_json::Value>,
        )] = &[
            (
                "List",
                "ListOperationsRequest",
                json!({"name": "projects/p", "filter": "done = true", "pageSize": 10,
                       "pageToken": "abc+/", "returnPartialSuccess": true}),
                "/v1/projects/p/operations?filter=done%20%3D%20true&pageSize=10\
                 &pageToken=abc%2B%2F&returnPartialSuccess=true",
                None,
            ),
            (
                "List",
                "ListOperationsRequest",
                json!({"name": "projects/my project"}),
                "/v1/projects/my%20project/operations",
                None,
            ),
            (
                "Wait",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x:y", "timeout": "3.500s"}),
                "/v1/projects/p/operations/x%3Ay:wait",
                Some(json!({"timeout": "3.500s"})),
            ),
            (
                "Cancel",
                "CancelOperationRequest",
                json!({"name": "projects/p/operations/a/b"}),
                "/v1/projects/p/operations/a/b:cancel",
                Some(json!({})),
            ),
            (
                "Search",
                "SearchRequest",
                json!({"parent": "projects/p",
                       "inner": {"a": "x y", "b": "5", "at": "2024-01-02T03:04:05Z"},
                       "tags": ["t1", "t&2"], "color": "BLUE", "ids": [1, -2],
                       "ratio": 0.5, "blob": "AQID", "limit": 7}),
                "/v1/projects/p/search?inner.a=x%20y&inner.b=5&inner.at=2024-01-02T03%3A04%3A05Z\
                 &tags=t1&tags=t%262&color=BLUE&ids=1&ids=-2&ratio=0.5&blob=AQID&limit=7",
                None,
            ),
            (
                "Search",
                "SearchRequest",
                json!({"parent": "projects/p", "ratio": "NaN", "color": "RED"}),
                "/v1/projects/p/search?color=RED&ratio=NaN",
                None,
            ),
            (
                "SearchPost",
                "SearchRequest",
                json!({"parent": "projects/p", "payload": {"a": "in body"}, "tags": ["q"]}),
                "/v1/projects/p/search?tags=q",
                Some(json!({"a": "in body"})),
            ),
            (
                "SearchPost",
                "SearchRequest",
                json!({"parent": "projects/p"}),
                "/v1/projects/p/search",
                Some(json!({})),
            ),
            (
                "Look",
                "SearchRequest",
                json!({"inner": {"a": "things/t", "b": "9"}}),
                "/v1/things/t:look?inner.b=9",
                None,
            ),
        ];
        for (method, name, input, path_and_query, body) in cases {
            let m = msg(name, input.clone());
            let parts = match encode_request(binding(method), &m) {
                Ok(p) => p,
                Err(e) => panic!("{method} {input}: {e}"),
            };
            assert_eq!(parts.path_and_query(), *path_and_query, "{method} {input}");
            assert_eq!(parts.body.as_ref().map(to_json), *body, "{method} {input}");
            assert_eq!(parts.method.as_str(), binding(method).binding().http_method);
        }
    }

    #[test]
    fn encode_errors() {
        use serde_json::json;
        // (binding, message, request message JSON, bad name?, text in the error)
        let cases: &[(&str, &str, serde_json::Value, bool, &str)] = &[
            (
                "List",
                "ListOperationsRequest",
                json!({"name": "operations/x"}),
                true,
                "projects/{project}",
            ),
            ("List", "ListOperationsRequest", json!({}), true, "is empty"),
            (
                "Wait",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations"}),
                true,
                "too few",
            ),
            (
                "Wait",
                "WaitOperationRequest",
                json!({"name": "projects//operations/x"}),
                true,
                "segment 1 is empty",
            ),
            (
                "Cancel",
                "CancelOperationRequest",
                json!({"name": "projects/p/operations/../x"}),
                true,
                "`..`",
            ),
            (
                "Search",
                "SearchRequest",
                json!({"parent": "projects/p", "labels": {"k": "v"}}),
                false,
                "map",
            ),
            (
                "Search",
                "SearchRequest",
                json!({"parent": "projects/p", "items": [{"a": "1"}]}),
                false,
                "repeated message",
            ),
            (
                "BadMethod",
                "SearchRequest",
                json!({}),
                false,
                "not an HTTP method",
            ),
            (
                "BadBody",
                "SearchRequest",
                json!({"parent": "x"}),
                false,
                "`nope`",
            ),
            (
                "ScalarBody",
                "SearchRequest",
                json!({"parent": "x"}),
                false,
                "singular message",
            ),
        ];
        for (method, name, input, bad_name, text) in cases {
            match encode_request(binding(method), &msg(name, input.clone())) {
                Ok(p) => panic!("{method} {input}: encoded as {p:?}"),
                Err(e) => {
                    assert_eq!(e.is_bad_name(), *bad_name, "{method} {input}: {e}");
                    assert!(e.to_string().contains(text), "{method} {input}: {e}");
                    if *bad_name {
                        let refused = e.bad_name().map(|b| (b.field(), b.value().is_some()));
                        assert!(refused.is_some_and(|(_, has_value)| has_value), "{e}");
                        assert!(e.is_invalid_argument());
                    }
                }
            }
        }
    }

    #[test]
    fn decode_cases() {
        use serde_json::json;
        const IGNORED: &[&str] = &["alt", "$alt", "prettyPrint", "key", "$.xgafv", "fields"];
        // (HTTP method, path, query, body, message, expected message JSON)
        let cases: &[DecodeCase] = &[
            (
                "GET",
                "/v1/projects/p/operations",
                Some("filter=a%20b&pageSize=10&pageToken=x&returnPartialSuccess=true"),
                "",
                "ListOperationsRequest",
                json!({"name": "projects/p", "filter": "a b", "pageSize": 10, "pageToken": "x",
                       "returnPartialSuccess": true}),
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("page_size=3&page_token=t&filter=a+b"),
                "",
                "ListOperationsRequest",
                json!({"name": "projects/p", "pageSize": 3, "pageToken": "t", "filter": "a b"}),
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("alt=json&$alt=json;enum-encoding=int&prettyPrint=false&%24.xgafv=2&&"),
                "",
                "ListOperationsRequest",
                json!({"name": "projects/p"}),
            ),
            (
                "GET",
                "/v1/projects/p%20q/operations",
                None,
                "{\"ignored\": true}",
                "ListOperationsRequest",
                json!({"name": "projects/p q"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x%3Ay:wait",
                None,
                "{\"timeout\":\"3.5s\"}",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x:y", "timeout": "3.500s"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                "",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                " \n\t ",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                Some("timeout=2s"),
                "",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x", "timeout": "2s"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                "{\"name\":\"projects/q/operations/zzz\",\"timeout\":\"1s\"}",
                "WaitOperationRequest",
                json!({"name": "projects/p/operations/x", "timeout": "1s"}),
            ),
            (
                "POST",
                "/v1/projects/p/operations/a%2Fb/c:cancel",
                None,
                "{}",
                "CancelOperationRequest",
                json!({"name": "projects/p/operations/a%2Fb/c"}),
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some(
                    "inner.a=x&inner.b=5&inner.at=2024-01-02T03%3A04%3A05Z&tags=a&tags=b\
                      &color=BLUE&ids=1&ids=-2&blob=AQID&limit=7&ratio=0.5",
                ),
                "",
                "SearchRequest",
                json!({"parent": "projects/p",
                       "inner": {"a": "x", "b": "5", "at": "2024-01-02T03:04:05Z"},
                       "tags": ["a", "b"], "color": "BLUE", "ids": [1, -2], "blob": "AQID",
                       "limit": 7, "ratio": 0.5}),
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("color=2&ratio=-Infinity"),
                "",
                "SearchRequest",
                json!({"parent": "projects/p", "color": "BLUE", "ratio": "-Infinity"}),
            ),
            (
                "POST",
                "/v1/projects/p/search",
                Some("tags=z"),
                "{\"a\":\"b\",\"b\":\"12\"}",
                "SearchRequest",
                json!({"parent": "projects/p", "tags": ["z"], "payload": {"a": "b", "b": "12"}}),
            ),
            (
                "GET",
                "/v1/things/t%20u:look",
                Some("inner.b=4"),
                "",
                "SearchRequest",
                json!({"inner": {"a": "things/t u", "b": "4"}}),
            ),
        ];
        for (method, path, query, body, name, expected) in cases {
            let route = match router().route(method, path) {
                Ok(r) => r,
                Err(e) => panic!("{method} {path}: {e}"),
            };
            match decode_request(&route, &desc(name), *query, body.as_bytes(), IGNORED) {
                Ok(m) => assert_eq!(to_json(&m), *expected, "{method} {path} {query:?}"),
                Err(e) => panic!("{method} {path} {query:?}: {e}"),
            }
        }
    }

    #[test]
    fn decode_errors() {
        // (HTTP method, path, query, body, message, text in the error)
        let cases: &[DecodeErrorCase] = &[
            (
                "GET",
                "/v1/projects/p/operations",
                Some("pagesize=1"),
                "",
                "ListOperationsRequest",
                "unknown query parameter `pagesize`",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("callback=x"),
                "",
                "ListOperationsRequest",
                "`callback`",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("pageSize=ten"),
                "",
                "ListOperationsRequest",
                "32-bit integer",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("pageSize=99999999999"),
                "",
                "ListOperationsRequest",
                "`pageSize`",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("returnPartialSuccess=yes"),
                "",
                "ListOperationsRequest",
                "`true` or `false`",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("pageSize=1&page_size=2"),
                "",
                "ListOperationsRequest",
                "more than once",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("filter=%ZZ"),
                "",
                "ListOperationsRequest",
                "malformed query",
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Some("filter=%FF"),
                "",
                "ListOperationsRequest",
                "UTF-8",
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                "{",
                "WaitOperationRequest",
                "invalid JSON body",
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                "{\"bogus\":1}",
                "WaitOperationRequest",
                "bogus",
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                None,
                "{\"timeout\":\"soon\"}",
                "WaitOperationRequest",
                "invalid JSON body",
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                Some("timeout=soon"),
                "",
                "WaitOperationRequest",
                "`timeout`",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("color=PURPLE"),
                "",
                "SearchRequest",
                "COLOR_UNSPECIFIED, RED, BLUE",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("inner=x"),
                "",
                "SearchRequest",
                "is a message",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("labels.k=v"),
                "",
                "SearchRequest",
                "`labels.k`",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("items.a=v"),
                "",
                "SearchRequest",
                "`items.a`",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("blob=!!"),
                "",
                "SearchRequest",
                "base64",
            ),
            (
                "GET",
                "/v1/projects/p/search",
                Some("ratio=fast"),
                "",
                "SearchRequest",
                "a number",
            ),
            (
                "POST",
                "/v1/projects/p/search",
                None,
                "[1]",
                "SearchRequest",
                "invalid JSON body",
            ),
        ];
        for (method, path, query, body, name, text) in cases {
            let route = match router().route(method, path) {
                Ok(r) => r,
                Err(e) => panic!("{method} {path}: {e}"),
            };
            match decode_request(&route, &desc(name), *query, body.as_bytes(), &["alt"]) {
                Ok(m) => panic!("{path} {query:?} {body}: decoded as {m:?}"),
                Err(e) => {
                    assert!(e.to_string().contains(text), "{query:?} {body}: {e}");
                    assert!(e.is_invalid_argument(), "{e}");
                    assert!(!e.is_bad_name());
                }
            }
        }
    }

    #[test]
    fn query_encoding() {
        assert_eq!(
            encode_query(&pairs(&[("a b", "c&d=e"), ("é", "~-._")])),
            "a%20b=c%26d%3De&%C3%A9=~-._"
        );
        assert_eq!(encode_query(&[]), "");
    }

    fn project() -> impl Strategy<Value = String> {
        any::<String>().prop_filter("one segment", |s| {
            !s.is_empty() && !s.contains('/') && s != "." && s != ".."
        })
    }

    proptest! {
        #[test]
        fn list_request_round_trips(
            project in project(),
            filter in any::<String>(),
            page_size in any::<i32>(),
            page_token in any::<String>(),
            partial in any::<bool>(),
        ) {
            let desc = desc("ListOperationsRequest");
            let mut m = DynamicMessage::new(desc.clone());
            m.set_field_by_name("name", Value::String(format!("projects/{project}")));
            m.set_field_by_name("filter", Value::String(filter));
            m.set_field_by_name("page_size", Value::I32(page_size));
            m.set_field_by_name("page_token", Value::String(page_token));
            m.set_field_by_name("return_partial_success", Value::Bool(partial));

            let parts = encode_request(binding("List"), &m).unwrap();
            let full = parts.path_and_query();
            let (path, query) = match full.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (full.as_str(), None),
            };
            let route = router().route(parts.method.as_str(), path).unwrap();
            prop_assert_eq!(route.binding.method, "List");
            let back = decode_request(&route, &desc, query, b"", &["alt"]).unwrap();
            for fd in desc.fields() {
                prop_assert_eq!(back.get_field(&fd), m.get_field(&fd), "{}", fd.name());
            }
        }

        /// The name-only path gives what `encode_request` gives (with no body where the
        /// message left is empty, as a client sends), for every generated binding of get,
        /// cancel and delete, for valid and invalid names alike.
        #[test]
        fn name_only_requests_match_encode_request(
            name in prop_oneof![
                any::<String>(),
                prop::collection::vec(project(), 1..4)
                    .prop_map(|ids| format!("projects/p/operations/{}", ids.join("/"))),
                project().prop_map(|id| format!("operations/{id}")),
            ],
        ) {
            let router = crate::transcode::generated_router().unwrap();
            let mut checked = 0;
            for b in router.bindings() {
                let request = match b.binding().method.rsplit('.').next() {
                    Some("GetOperation") => "GetOperationRequest",
                    Some("CancelOperation") => "CancelOperationRequest",
                    Some("DeleteOperation") => "DeleteOperationRequest",
                    _ => continue,
                };
                let desc = crate::pb::DESCRIPTOR_POOL
                    .get_message_by_name(&format!("google.longrunning.{request}"))
                    .unwrap();
                let mut m = DynamicMessage::new(desc);
                m.set_field_by_name("name", Value::String(name.clone()));
                let fast = encode_name_request(b, &name).expect("a plain binding");
                match (fast, encode_request(b, &m)) {
                    (Ok(fast), Ok(full)) => {
                        prop_assert_eq!(&fast.method, &full.method);
                        prop_assert_eq!(&fast.path, &full.path);
                        prop_assert_eq!(&fast.query, &full.query);
                        prop_assert!(fast.body.is_none());
                        prop_assert!(full.body.is_none_or(|body| body.fields().next().is_none()));
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{name:?}: {a:?} against {b:?}"),
                }
                checked += 1;
            }
            prop_assert!(checked >= 9, "only {checked} bindings");
        }

        #[test]
        fn wait_request_round_trips(
            ids in prop::collection::vec(project(), 1..4),
            seconds in 0i64..315_576_000_000,
            nanos in 0i32..1_000_000_000,
        ) {
            let desc = desc("WaitOperationRequest");
            let name = format!("projects/p/operations/{}", ids.join("/"));
            let m = msg("WaitOperationRequest", serde_json::json!({
                "name": name,
                "timeout": format!("{seconds}.{nanos:09}s"),
            }));
            let parts = encode_request(binding("Wait"), &m).unwrap();
            let body = serde_json::to_vec(&parts.body.unwrap()).unwrap();
            let route = router().route("POST", &parts.path).unwrap();
            let back = decode_request(&route, &desc, None, &body, &[]).unwrap();
            prop_assert_eq!(to_json(&back), to_json(&m));
        }
    }
}
