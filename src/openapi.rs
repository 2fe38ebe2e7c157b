//! OpenAPI 3.1 descriptions of transcoded services, generated from the same descriptors and
//! HTTP bindings the REST client and server use.
//!
//! [`document`] takes a [`DescriptorPool`], a binding table (as [`crate::pb::HTTP_BINDINGS`])
//! and a [`DocumentInfo`], and returns the document as JSON. eeops' server serves the one of
//! its own Operations service at [`OPENAPI_PATH`] (`GET /openapi.json`), beside Google's
//! discovery document at `/$discovery/rest`.
//!
//! # What the document says
//!
//! * **One operation per binding**: every route of every method, additional bindings and each
//!   API version's rules included. The operation id is `{Service}_{Method}`, followed by
//!   `_{api_version}` for a binding that has one, and by `_2`, `_3`, ... should it still
//!   repeat. Operations are tagged with the service's full name.
//! * **Paths**: literal segments and custom verbs (`:cancel`) as written. A single-segment
//!   variable (`{shelf_id}`, `{book.id=*}`) is one path parameter named after the field's JSON
//!   name (`shelfId`, `book.id`), with the field's schema. A variable whose pattern is only
//!   literals (`{name=operations}`) is written as its literals: its value is fixed.
//! * **Multi-segment variables** (`{name=projects/*/operations/**}`): OpenAPI path parameters
//!   cannot hold a `/`, so the variable's pattern is written out with one parameter per
//!   wildcard, named after the literal before it, as Google's discovery documents do:
//!   `/v1/projects/{projectsId}/operations/{operationsId}`. A generated client then fills in
//!   `projectsId = "p"` and `operationsId = "X"` and percent-encodes each value as one
//!   segment, which is exactly what the server's router expects; the client never needs to
//!   know the template grammar. The other choice, one `{name}` parameter with
//!   `allowReserved`, does not work: OpenAPI defines `allowReserved` for query parameters only,
//!   and generated clients encode the `/` of a path parameter as `%2F`, which no
//!   `projects/*/...` route matches. The cost of this choice: a `**` parameter is filled in as
//!   one segment, so a value with a `/` in it (an id with sub-segments, which Earth Engine
//!   never issues) reaches the server with `%2F` kept, as `google/api/http.proto` says for
//!   multi-segment variables, rather than as separate segments.
//! * **Query parameters**: with no body rule, or a `body: "field"` rule, every field that is
//!   neither in the path nor the body is a query parameter named by its JSON path
//!   (`filter.nested.level`); repeated scalars are arrays (`ids=1&ids=2`), enums their names,
//!   Timestamp, Duration, FieldMask and the wrappers one value each. Maps, repeated messages,
//!   `Any`, `Struct`, `Value`, `Empty` and `NullValue` cannot travel in a query and are left
//!   out, as is a message field that would recurse into its own type.
//! * **Bodies**: `body: "*"` sends the request message less its top-level path fields (an
//!   inline schema when any are in the path); `body: "field"` sends that field's schema;
//!   `response_body` answers with the named field's schema instead of the response message.
//! * **Schemas** (under `components/schemas`, keyed by full proto name) follow the proto3
//!   JSON mapping: properties by JSON name; 64-bit integers as strings (`format: int64` or
//!   `uint64`); bytes as base64 strings; enums as their value names; Timestamp as `date-time`
//!   strings; Duration (`"3.5s"`) and FieldMask (`"a.b,c"`) as strings; wrappers as their
//!   scalar or `null`; Struct as an object, Value as any JSON, ListValue as an array; `Any` as
//!   an object with a required `@type` and the packed message's fields; maps as objects; a
//!   recursive message refers to itself with `$ref`. Fields annotated
//!   `(google.api.field_behavior) = REQUIRED` are `required`, `OUTPUT_ONLY` ones `readOnly`,
//!   `INPUT_ONLY` ones `writeOnly`. Proto comments become descriptions.
//! * **Errors**: every operation's `default` response is Google's JSON error envelope,
//!   `{"error": {"code", "message", "status", "details"}}` (`components/schemas/ErrorResponse`).
//! * **Custom methods** (a `custom` HttpRule whose kind is not an HTTP method OpenAPI 3.1
//!   knows) cannot be a 3.1 operation: they are described under the path item's
//!   `x-additionalOperations` extension, keyed by method, with OpenAPI 3.2's meaning of
//!   `additionalOperations`.
//!
//! ```
//! use eeops::openapi::{DocumentInfo, document};
//!
//! let info = DocumentInfo::new("Operations", "1.0").with_server_url("http://127.0.0.1:8080");
//! let doc = document(&eeops::pb::DESCRIPTOR_POOL, eeops::pb::HTTP_BINDINGS, &info)?;
//! assert_eq!(doc["openapi"], "3.1.0");
//! let cancel = &doc["paths"]["/v1/projects/{projectsId}/operations/{operationsId}:cancel"]["post"];
//! assert_eq!(cancel["operationId"], "Operations_CancelOperation_v1");
//! assert_eq!(
//!     doc["components"]["schemas"]["google.longrunning.Operation"]["properties"]["metadata"]["$ref"],
//!     "#/components/schemas/google.protobuf.Any"
//! );
//! # Ok::<(), eeops::openapi::OpenApiError>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use prost_reflect::{
    DescriptorPool, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, MethodDescriptor, Value,
};
use serde_json::{Map, Value as Json, json};

use crate::transcode::{HttpBinding, PathTemplate, Segment, Variable};

/// The OpenAPI version of the documents [`document`] writes.
pub const OPENAPI_VERSION: &str = "3.1.0";

/// The path at which eeops' server serves the OpenAPI document of its Operations service
/// (`GET` only; the server URL in it is `/`, the server the document came from).
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The name of the schema of Google's JSON error envelope under `components/schemas` (and of
/// the shared response under `components/responses`).
pub const ERROR_SCHEMA: &str = "ErrorResponse";

/// The name of the schema of the envelope's `error` object under `components/schemas`.
pub const ERROR_STATUS_SCHEMA: &str = "ErrorStatus";

/// The `google.rpc.Code` names, as the envelope's `status` carries them.
const CODE_NAMES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The HTTP methods an OpenAPI 3.1 path item has a field for.
const PATH_ITEM_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `google.api.FieldBehavior` values eeops reads.
const REQUIRED: i32 = 2;
const OUTPUT_ONLY: i32 = 3;
const INPUT_ONLY: i32 = 4;

/// The `info` and `servers` of a document.
///
/// ```
/// use eeops::openapi::DocumentInfo;
///
/// let info = DocumentInfo::new("Library", "v1")
///     .with_description("Shelves and books.")
///     .with_server_url("https://library.example.com");
/// assert_eq!(info.server_url.as_deref(), Some("https://library.example.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentInfo {
    /// `info.title`.
    pub title: String,
    /// `info.version`: the version of the document (of the API it describes), not OpenAPI's.
    pub version: String,
    /// `info.description`, if any.
    pub description: Option<String>,
    /// The one entry of `servers`, if any (an OpenAPI document without `servers` means `/`,
    /// relative to where the document was fetched from).
    pub server_url: Option<String>,
    /// Full names of further messages to describe under `components/schemas`, typically the
    /// ones that travel packed in an `Any` (such as an operation's metadata), which no method
    /// names.
    pub extra_schemas: Vec<String>,
}

impl DocumentInfo {
    /// A title and a version, with no description and no server.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        DocumentInfo {
            title: title.into(),
            version: version.into(),
            description: None,
            server_url: None,
            extra_schemas: Vec::new(),
        }
    }

    /// Sets `info.description`.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the server URL (absolute, or relative to the document's own URL).
    pub fn with_server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// Adds a message, by full name, to describe under `components/schemas` although no
    /// method names it (a message packed in an `Any`, for instance).
    pub fn with_extra_schema(mut self, full_name: impl Into<String>) -> Self {
        self.extra_schemas.push(full_name.into());
        self
    }
}

/// Why a document cannot be built: the binding (or extra schema), and what is wrong with it.
///
/// ```
/// use eeops::openapi::{DocumentInfo, document};
/// use eeops::transcode::HttpBinding;
///
/// let bad = [HttpBinding {
///     method: "google.longrunning.Operations.Missing",
///     http_method: "GET",
///     template: "/v1/{name=operations/**}",
///     body: "",
///     response_body: "",
///     api_version: "",
/// }];
/// let err = document(&eeops::pb::DESCRIPTOR_POOL, &bad, &DocumentInfo::new("t", "1")).unwrap_err();
/// assert!(err.to_string().contains("no method `google.longrunning.Operations.Missing`"));
/// assert_eq!(err.subject(), "GET /v1/{name=operations/**} (google.longrunning.Operations.Missing)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot describe {subject}: {reason}")]
pub struct OpenApiError {
    subject: String,
    reason: String,
}

impl OpenApiError {
    fn new(b: &HttpBinding, reason: impl Into<String>) -> Self {
        OpenApiError {
            subject: format!("{} {} ({})", b.http_method, b.template, b.method),
            reason: reason.into(),
        }
    }

    /// What could not be described: a binding, as `METHOD template (rpc)`, or
    /// `extra schema NAME`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Builds the OpenAPI 3.1 document of `bindings`, whose methods and messages `pool`
/// describes. See the [module documentation](self) for how each part of an HttpRule is
/// expressed.
///
/// Fails, naming the binding, when a binding's method is not in the pool, its template does
/// not parse, a path variable, `body` or `response_body` names no field, or two bindings would
/// be the same OpenAPI operation (same path, same HTTP method); and, naming the message, when
/// one of [`DocumentInfo::extra_schemas`] is not in the pool.
///
/// ```
/// use eeops::openapi::{DocumentInfo, document};
///
/// let doc = document(&eeops::pb::DESCRIPTOR_POOL, eeops::pb::HTTP_BINDINGS, &DocumentInfo::new("ops", "1"))?;
/// let list = &doc["paths"]["/v1/projects/{projectsId}/operations"]["get"];
/// let query: Vec<&str> = list["parameters"]
///     .as_array()
///     .unwrap()
///     .iter()
///     .filter(|p| p["in"] == "query")
///     .map(|p| p["name"].as_str().unwrap())
///     .collect();
/// assert!(query.contains(&"pageSize") && query.contains(&"filter"));
/// assert_eq!(list["responses"]["default"]["$ref"], "#/components/responses/ErrorResponse");
/// # Ok::<(), eeops::openapi::OpenApiError>(())
/// ```
pub fn document(
    pool: &DescriptorPool,
    bindings: &[HttpBinding],
    info: &DocumentInfo,
) -> Result<Json, OpenApiError> {
    let mut g = Generator::new(pool);
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut operation_ids: HashSet<String> = HashSet::new();
    let mut origins: HashMap<(String, String), String> = HashMap::new();
    let mut tags: BTreeMap<String, Option<String>> = BTreeMap::new();

    for b in bindings {
        let method = find_method(pool, b.method).ok_or_else(|| {
            OpenApiError::new(
                b,
                format!("no method `{}` in the descriptor pool", b.method),
            )
        })?;
        let template = PathTemplate::parse(b.template)
            .map_err(|e| OpenApiError::new(b, format!("bad path template: {e}")))?;
        let (path, mut operation) = g
            .operation(b, &method, &template)
            .map_err(|reason| OpenApiError::new(b, reason))?;

        let service = method.parent_service();
        tags.entry(service.full_name().to_owned())
            .or_insert_with(|| g.comment(&service.parent_file(), service.path()));
        let mut id = format!("{}_{}", service.name(), method.name());
        if !b.api_version.is_empty() {
            id = format!("{id}_{}", b.api_version);
        }
        if operation_ids.contains(&id) {
            let base = id.clone();
            let mut n = 2;
            while operation_ids.contains(&id) {
                id = format!("{base}_{n}");
                n += 1;
            }
        }
        operation_ids.insert(id.clone());
        operation.insert("operationId".into(), Json::String(id));
        operation.insert("tags".into(), json!([service.full_name()]));

        let lower = b.http_method.to_ascii_lowercase();
        let key = (path.clone(), b.http_method.to_ascii_uppercase());
        let item = paths.entry(path.clone()).or_default();
        if let Some(first) = origins.get(&key) {
            return Err(OpenApiError::new(
                b,
                format!(
                    "it is the same OpenAPI operation ({} {path}) as the binding {first}",
                    key.1
                ),
            ));
        }
        origins.insert(key.clone(), format!("{} ({})", b.template, b.method));
        if PATH_ITEM_METHODS.contains(&lower.as_str()) {
            item.insert(lower, Json::Object(operation));
        } else {
            let extra = item
                .entry("x-additionalOperations")
                .or_insert_with(|| Json::Object(Map::new()));
            if let Json::Object(extra) = extra {
                extra.insert(key.1, Json::Object(operation));
            }
        }
    }

    for name in &info.extra_schemas {
        let m = pool.get_message_by_name(name).ok_or_else(|| OpenApiError {
            subject: format!("extra schema {name}"),
            reason: "no such message in the descriptor pool".into(),
        })?;
        g.message_ref(&m);
    }
    let schemas = g.finish();
    let mut doc_info = Map::new();
    doc_info.insert("title".into(), Json::String(info.title.clone()));
    doc_info.insert("version".into(), Json::String(info.version.clone()));
    if let Some(d) = &info.description {
        doc_info.insert("description".into(), Json::String(d.clone()));
    }
    let tags: Vec<Json> = tags
        .into_iter()
        .map(|(name, description)| match description {
            Some(d) => json!({ "name": name, "description": d }),
            None => json!({ "name": name }),
        })
        .collect();
    let mut doc = json!({
        "openapi": OPENAPI_VERSION,
        "info": doc_info,
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                ERROR_SCHEMA: {
                    "description": "An error, in Google's JSON error envelope.",
                    "content": {
                        "application/json": {
                            "schema": { "$ref": format!("#/components/schemas/{ERROR_SCHEMA}") }
                        }
                    }
                }
            }
        }
    });
    if let Some(url) = &info.server_url {
        doc["servers"] = json!([{ "url": url }]);
    }
    Ok(doc)
}

/// The method `pkg.Service.Method`, if the pool has it.
fn find_method(pool: &DescriptorPool, full: &str) -> Option<MethodDescriptor> {
    let (service, name) = full.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == name)
}

/// The field at a dotted proto field path (`book.name`), descending through message fields.
fn resolve_field(message: &MessageDescriptor, field_path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = field_path.split('.').peekable();
    loop {
        let name = parts.next()?;
        let fd = current.get_field_by_name(name)?;
        if parts.peek().is_none() {
            return Some(fd);
        }
        match fd.kind() {
            Kind::Message(m) if !fd.is_list() && !fd.is_map() => current = m,
            _ => return None,
        }
    }
}

/// Message types written inline as one JSON value (and sent as one query parameter).
fn is_scalar_wkt(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
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

/// Schema of a scalar kind (not a message or an enum), in proto3 JSON form.
fn scalar_schema(kind: &Kind) -> Json {
    match kind {
        Kind::Double => json!({ "type": "number", "format": "double" }),
        Kind::Float => json!({ "type": "number", "format": "float" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({ "type": "integer", "format": "uint32", "minimum": 0 })
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" })
        }
        Kind::Uint64 | Kind::Fixed64 => {
            json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$" })
        }
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "format": "byte", "contentEncoding": "base64" }),
        Kind::Message(_) | Kind::Enum(_) => json!({}),
    }
}

/// The inline schema of a well-known type with its own JSON form; `None` for the others.
fn wkt_schema(full_name: &str) -> Option<Json> {
    let wrapper = |kind: Kind| {
        let mut s = scalar_schema(&kind);
        if let Some(ty) = s.get("type").cloned() {
            s["type"] = json!([ty, "null"]);
        }
        s
    };
    Some(match full_name {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => json!({
            "type": "string",
            "format": "google-duration",
            "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        }),
        "google.protobuf.FieldMask" => json!({ "type": "string", "format": "google-fieldmask" }),
        "google.protobuf.DoubleValue" => wrapper(Kind::Double),
        "google.protobuf.FloatValue" => wrapper(Kind::Float),
        "google.protobuf.Int64Value" => wrapper(Kind::Int64),
        "google.protobuf.UInt64Value" => wrapper(Kind::Uint64),
        "google.protobuf.Int32Value" => wrapper(Kind::Int32),
        "google.protobuf.UInt32Value" => wrapper(Kind::Uint32),
        "google.protobuf.BoolValue" => wrapper(Kind::Bool),
        "google.protobuf.StringValue" => wrapper(Kind::String),
        "google.protobuf.BytesValue" => wrapper(Kind::Bytes),
        "google.protobuf.Struct" => json!({ "type": "object", "additionalProperties": true }),
        // Any JSON value.
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array", "items": {} }),
        _ => return None,
    })
}

/// What the generator still has to write under `components/schemas`.
enum Pending {
    Message(MessageDescriptor),
    Enum(EnumDescriptor),
}

struct Generator {
    field_behavior: Option<ExtensionDescriptor>,
    schemas: Map<String, Json>,
    pending: Vec<Pending>,
    queued: HashSet<String>,
    /// Leading comments by file name, then by source-code-info path.
    comments: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Generator {
    fn new(pool: &DescriptorPool) -> Self {
        Generator {
            field_behavior: pool.get_extension_by_name("google.api.field_behavior"),
            schemas: Map::new(),
            pending: Vec::new(),
            queued: HashSet::new(),
            comments: HashMap::new(),
        }
    }

    /// The cleaned leading (or else trailing) comment of the element at `path` in `file`.
    fn comment(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let by_path = self
            .comments
            .entry(file.name().to_owned())
            .or_insert_with(|| {
                let mut map = HashMap::new();
                if let Some(info) = &file.file_descriptor_proto().source_code_info {
                    for loc in &info.location {
                        let text = loc
                            .leading_comments
                            .as_deref()
                            .or(loc.trailing_comments.as_deref())
                            .map(clean_comment)
                            .filter(|c| !c.is_empty());
                        if let Some(text) = text {
                            map.entry(loc.path.clone()).or_insert(text);
                        }
                    }
                }
                map
            });
        by_path.get(path).cloned()
    }

    /// The field's `google.api.field_behavior` values.
    fn behaviors(&self, fd: &FieldDescriptor) -> Vec<i32> {
        let Some(ext) = &self.field_behavior else {
            return Vec::new();
        };
        let options = fd.options();
        if !options.has_extension(ext) {
            return Vec::new();
        }
        match options.get_extension(ext).as_ref() {
            Value::List(items) => items.iter().filter_map(Value::as_enum_number).collect(),
            Value::EnumNumber(n) => vec![*n],
            _ => Vec::new(),
        }
    }

    fn is_required(&self, fd: &FieldDescriptor) -> bool {
        self.behaviors(fd).contains(&REQUIRED)
    }

    /// A `$ref` to a message's component schema, queuing the schema.
    fn message_ref(&mut self, m: &MessageDescriptor) -> Json {
        let name = m.full_name().to_owned();
        if self.queued.insert(name.clone()) {
            self.pending.push(Pending::Message(m.clone()));
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// The schema of a value of `kind` (one element, for a repeated field).
    fn kind_schema(&mut self, kind: &Kind) -> Json {
        match kind {
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => {
                json!({ "type": "null" })
            }
            Kind::Enum(e) => {
                let name = e.full_name().to_owned();
                if self.queued.insert(name.clone()) {
                    self.pending.push(Pending::Enum(e.clone()));
                }
                json!({ "$ref": format!("#/components/schemas/{name}") })
            }
            Kind::Message(m) => wkt_schema(m.full_name()).unwrap_or_else(|| self.message_ref(m)),
            other => scalar_schema(other),
        }
    }

    /// The schema of a field's JSON value: an array for a repeated field, an object for a map.
    fn field_schema(&mut self, fd: &FieldDescriptor) -> Json {
        if fd.is_map()
            && let Kind::Message(entry) = fd.kind()
        {
            let value = self.kind_schema(&entry.map_entry_value_field().kind());
            return json!({ "type": "object", "additionalProperties": value });
        }
        let item = self.kind_schema(&fd.kind());
        if fd.is_list() {
            json!({ "type": "array", "items": item })
        } else {
            item
        }
    }

    /// The field's schema with its description and field behaviours.
    fn property(&mut self, fd: &FieldDescriptor) -> Json {
        let mut schema = self.field_schema(fd);
        let behaviors = self.behaviors(fd);
        let description = self.comment(&fd.parent_file(), fd.path());
        if let Json::Object(map) = &mut schema {
            if let Some(d) = description {
                map.insert("description".into(), Json::String(d));
            }
            if behaviors.contains(&OUTPUT_ONLY) {
                map.insert("readOnly".into(), Json::Bool(true));
            }
            if behaviors.contains(&INPUT_ONLY) {
                map.insert("writeOnly".into(), Json::Bool(true));
            }
            if fd
                .field_descriptor_proto()
                .options
                .as_ref()
                .is_some_and(|o| o.deprecated())
            {
                map.insert("deprecated".into(), Json::Bool(true));
            }
        }
        schema
    }

    /// The object schema of a message (`skip`: JSON names of fields to leave out).
    fn message_schema(&mut self, m: &MessageDescriptor, skip: &[String]) -> Json {
        if m.full_name() == "google.protobuf.Any" {
            return any_schema();
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        for fd in m.fields() {
            if skip.iter().any(|s| s == fd.json_name()) {
                continue;
            }
            if self.is_required(&fd) {
                required.push(Json::String(fd.json_name().to_owned()));
            }
            let property = self.property(&fd);
            properties.insert(fd.json_name().to_owned(), property);
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        if let Some(d) = self.comment(&m.parent_file(), m.path()) {
            schema.insert("description".into(), Json::String(d));
        }
        if !properties.is_empty() {
            schema.insert("properties".into(), Json::Object(properties));
        }
        if !required.is_empty() {
            schema.insert("required".into(), Json::Array(required));
        }
        Json::Object(schema)
    }

    fn enum_schema(&mut self, e: &EnumDescriptor) -> Json {
        let mut names: Vec<Json> = Vec::new();
        for v in e.values() {
            let name = Json::String(v.name().to_owned());
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut schema = json!({ "type": "string", "enum": names });
        if let Some(d) = self.comment(&e.parent_file(), e.path()) {
            schema["description"] = Json::String(d);
        }
        schema
    }

    /// Writes every queued schema and the error envelope; returns `components/schemas`.
    fn finish(mut self) -> Map<String, Json> {
        // The envelope's details are `Any`s, whatever the pool holds.
        let any = json!({ "$ref": "#/components/schemas/google.protobuf.Any" });
        if self.queued.insert("google.protobuf.Any".into()) {
            self.schemas
                .insert("google.protobuf.Any".into(), any_schema());
        }
        while let Some(next) = self.pending.pop() {
            let (name, schema) = match next {
                Pending::Message(m) => (m.full_name().to_owned(), self.message_schema(&m, &[])),
                Pending::Enum(e) => (e.full_name().to_owned(), self.enum_schema(&e)),
            };
            self.schemas.insert(name, schema);
        }
        self.schemas.insert(
            ERROR_SCHEMA.into(),
            json!({
                "type": "object",
                "description": "Google's JSON error envelope.",
                "required": ["error"],
                "properties": {
                    "error": { "$ref": format!("#/components/schemas/{ERROR_STATUS_SCHEMA}") }
                },
            }),
        );
        self.schemas.insert(
            ERROR_STATUS_SCHEMA.into(),
            json!({
                "type": "object",
                "description": "What went wrong: a `google.rpc.Status` with the HTTP status as `code` and the `google.rpc.Code` name as `status`.",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": { "type": "integer", "format": "int32", "description": "The HTTP status code." },
                    "message": { "type": "string", "description": "A message for developers." },
                    "status": { "type": "string", "enum": CODE_NAMES, "description": "The `google.rpc.Code` name." },
                    "details": { "type": "array", "items": any, "description": "Typed error details (`google.rpc.ErrorInfo`, `google.rpc.BadRequest`, ...)." },
                },
            }),
        );
        self.schemas
    }

    /// The OpenAPI path of a template and its path parameters.
    fn path(
        &mut self,
        template: &PathTemplate,
        input: &MessageDescriptor,
    ) -> Result<(String, Vec<Json>), String> {
        let variables = template.variables();
        let segments = template.segments();
        let mut used: HashSet<String> = HashSet::new();
        let mut unique = |base: String| {
            let mut name = base.clone();
            let mut n = 2;
            while !used.insert(name.clone()) {
                name = format!("{base}{n}");
                n += 1;
            }
            name
        };
        let mut parts: Vec<String> = Vec::new();
        let mut params = Vec::new();
        let mut i = 0;
        while i < segments.len() {
            let Some(var) = variables.iter().find(|v| v.span().start == i) else {
                // A segment outside every variable.
                match &segments[i] {
                    Segment::Literal(lit) => parts.push(lit.clone()),
                    wildcard => {
                        let base = match i.checked_sub(1).map(|j| &segments[j]) {
                            Some(Segment::Literal(prev)) => format!("{prev}Id"),
                            _ => format!("segment{}", i + 1),
                        };
                        let name = unique(base);
                        parts.push(format!("{{{name}}}"));
                        params.push(json!({
                            "name": name,
                            "in": "path",
                            "required": true,
                            "schema": { "type": "string" },
                            "description": format!("Any {}, bound to no field.", segment_words(wildcard)),
                        }));
                    }
                }
                i += 1;
                continue;
            };
            let fd = resolve_field(input, var.field_path()).ok_or_else(|| {
                format!(
                    "path variable `{}` is not a field of {}",
                    var.field_path(),
                    input.full_name()
                )
            })?;
            let json_path = json_field_path(input, var.field_path());
            let literal_only = var
                .segments()
                .iter()
                .all(|s| matches!(s, Segment::Literal(_)));
            if literal_only {
                parts.extend(var.segments().iter().map(ToString::to_string));
            } else if !var.is_multi_segment() {
                let name = unique(json_path.clone());
                parts.push(format!("{{{name}}}"));
                let mut param = json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": not_null(self.field_schema(&fd)),
                });
                if let Some(d) = self.comment(&fd.parent_file(), fd.path()) {
                    param["description"] = Json::String(d);
                }
                params.push(param);
            } else {
                self.multi_segment(var, &json_path, &mut unique, &mut parts, &mut params);
            }
            i = var.span().end.max(i + 1);
        }
        let mut path = format!("/{}", parts.join("/"));
        if let Some(verb) = template.verb() {
            path.push(':');
            path.push_str(verb);
        }
        Ok((path, params))
    }

    /// Writes a multi-segment variable's pattern with one parameter per wildcard.
    fn multi_segment(
        &mut self,
        var: &Variable,
        json_path: &str,
        unique: &mut impl FnMut(String) -> String,
        parts: &mut Vec<String>,
        params: &mut Vec<Json>,
    ) {
        let leaf = json_path.rsplit('.').next().unwrap_or(json_path).to_owned();
        let mut previous: Option<&str> = None;
        // The pattern with each wildcard replaced by its parameter, for the descriptions.
        let mut shape = Vec::new();
        let first = params.len();
        for seg in var.segments() {
            match seg {
                Segment::Literal(lit) => {
                    parts.push(lit.clone());
                    shape.push(lit.clone());
                    previous = Some(lit);
                }
                wildcard => {
                    let base = previous.map_or_else(|| leaf.clone(), |p| format!("{p}Id"));
                    let name = unique(base);
                    parts.push(format!("{{{name}}}"));
                    shape.push(format!("{{{name}}}"));
                    let deep = matches!(wildcard, Segment::DeepWildcard);
                    let description = if deep {
                        "the rest of the value (the template's `**`; filled in as one segment, so a `/` in it is sent as `%2F`)"
                    } else {
                        "one segment"
                    };
                    params.push(json!({
                        "name": name,
                        "in": "path",
                        "required": true,
                        "schema": { "type": "string" },
                        "description": description,
                    }));
                    previous = None;
                }
            }
        }
        let shape = shape.join("/");
        for p in &mut params[first..] {
            let what = p["description"].as_str().unwrap_or_default().to_owned();
            p["description"] = Json::String(format!(
                "Part of `{json_path}` = `{shape}` (pattern `{}`): {what}.",
                var.pattern()
            ));
        }
    }

    /// The query parameters of `message`'s fields (`prefix`: the JSON path of `message`,
    /// with a trailing `.`), leaving out the fields at the proto paths in `skip`.
    #[allow(clippy::too_many_arguments)]
    fn query_params(
        &mut self,
        message: &MessageDescriptor,
        proto_prefix: &str,
        json_prefix: &str,
        skip: &HashSet<String>,
        stack: &mut Vec<String>,
        out: &mut Vec<Json>,
    ) {
        stack.push(message.full_name().to_owned());
        for fd in message.fields() {
            let proto_path = format!("{proto_prefix}{}", fd.name());
            if skip.contains(&proto_path) || fd.is_map() {
                continue;
            }
            let json_path = format!("{json_prefix}{}", fd.json_name());
            if let Kind::Enum(e) = fd.kind()
                && e.full_name() == "google.protobuf.NullValue"
            {
                // Its one value is JSON's null, which a query cannot say.
                continue;
            }
            if let Kind::Message(m) = fd.kind()
                && !is_scalar_wkt(m.full_name())
            {
                let special = matches!(
                    m.full_name(),
                    "google.protobuf.Any"
                        | "google.protobuf.Struct"
                        | "google.protobuf.Value"
                        | "google.protobuf.ListValue"
                        | "google.protobuf.Empty"
                );
                if fd.is_list() || special || stack.iter().any(|s| s == m.full_name()) {
                    continue;
                }
                let child_proto = format!("{proto_path}.");
                let child_json = format!("{json_path}.");
                self.query_params(&m, &child_proto, &child_json, skip, stack, out);
                continue;
            }
            let mut param = json!({
                "name": json_path,
                "in": "query",
                "schema": not_null(self.field_schema(&fd)),
            });
            if stack.len() == 1 && self.is_required(&fd) {
                param["required"] = Json::Bool(true);
            }
            if let Some(d) = self.comment(&fd.parent_file(), fd.path()) {
                param["description"] = Json::String(d);
            }
            out.push(param);
        }
        stack.pop();
    }

    /// One binding's OpenAPI path and operation (without its id and tags).
    fn operation(
        &mut self,
        b: &HttpBinding,
        method: &MethodDescriptor,
        template: &PathTemplate,
    ) -> Result<(String, Map<String, Json>), String> {
        let input = method.input();
        let output = method.output();
        let (path, mut parameters) = self.path(template, &input)?;
        let path_fields: HashSet<String> = template
            .variables()
            .iter()
            .map(|v| v.field_path().to_owned())
            .collect();

        let mut op = Map::new();
        if let Some(d) = self.comment(&method.parent_file(), method.path()) {
            let summary = summary(&d);
            if !summary.is_empty() {
                op.insert("summary".into(), Json::String(summary));
            }
            op.insert("description".into(), Json::String(d));
        }
        if method
            .method_descriptor_proto()
            .options
            .as_ref()
            .is_some_and(|o| o.deprecated())
        {
            op.insert("deprecated".into(), Json::Bool(true));
        }

        let body_schema = match b.body {
            "" => None,
            "*" => {
                let top: Vec<String> = path_fields
                    .iter()
                    .filter(|p| !p.contains('.'))
                    .filter_map(|p| input.get_field_by_name(p))
                    .map(|fd| fd.json_name().to_owned())
                    .collect();
                Some(if top.is_empty() {
                    self.message_ref(&input)
                } else {
                    self.message_schema(&input, &top)
                })
            }
            field => {
                let fd = input.get_field_by_name(field).ok_or_else(|| {
                    format!("body `{field}` is not a field of {}", input.full_name())
                })?;
                Some(self.property(&fd))
            }
        };
        if b.body != "*" {
            let mut skip = path_fields.clone();
            if !b.body.is_empty() {
                skip.insert(b.body.to_owned());
            }
            self.query_params(&input, "", "", &skip, &mut Vec::new(), &mut parameters);
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), Json::Array(parameters));
        }
        if let Some(schema) = body_schema {
            op.insert(
                "requestBody".into(),
                json!({ "content": { "application/json": { "schema": schema } } }),
            );
        }

        let (response, what) = match b.response_body {
            "" => (
                self.message_ref(&output),
                format!("OK: a {}.", output.full_name()),
            ),
            field => {
                let fd = output.get_field_by_name(field).ok_or_else(|| {
                    format!(
                        "response_body `{field}` is not a field of {}",
                        output.full_name()
                    )
                })?;
                (
                    self.field_schema(&fd),
                    format!("OK: the `{}` of a {}.", fd.json_name(), output.full_name()),
                )
            }
        };
        op.insert(
            "responses".into(),
            json!({
                "200": {
                    "description": what,
                    "content": { "application/json": { "schema": response } }
                },
                "default": { "$ref": format!("#/components/responses/{ERROR_SCHEMA}") }
            }),
        );
        Ok((path, op))
    }
}

/// The JSON form of `google.protobuf.Any`: `@type` and the packed message's members.
fn any_schema() -> Json {
    json!({
        "type": "object",
        "description": "A message of any type: `@type` names it (`type.googleapis.com/` and its full name), the other members are its proto3 JSON (a type with its own JSON form, such as Duration, puts it under `value`).",
        "required": ["@type"],
        "properties": {
            "@type": { "type": "string", "description": "The type URL of the message." }
        },
        "additionalProperties": true,
    })
}

/// `a.b` in proto names to its JSON names (`bookShelf.id`).
fn json_field_path(message: &MessageDescriptor, field_path: &str) -> String {
    let mut current = Some(message.clone());
    field_path
        .split('.')
        .map(|name| {
            let fd = current.as_ref().and_then(|m| m.get_field_by_name(name));
            current = fd.as_ref().and_then(|fd| match fd.kind() {
                Kind::Message(m) => Some(m),
                _ => None,
            });
            fd.map_or_else(|| name.to_owned(), |fd| fd.json_name().to_owned())
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A wrapper's schema without its `null`: a query parameter or a path segment has no null.
fn not_null(mut schema: Json) -> Json {
    fn strip(s: &mut Json) {
        if let Some(Json::Array(types)) = s.get("type") {
            let kept: Vec<Json> = types.iter().filter(|t| *t != "null").cloned().collect();
            if let [one] = kept.as_slice() {
                s["type"] = one.clone();
            }
        }
    }
    strip(&mut schema);
    if let Some(items) = schema.get_mut("items") {
        strip(items);
    }
    schema
}

fn segment_words(seg: &Segment) -> &'static str {
    match seg {
        Segment::DeepWildcard => "segments (`**`)",
        _ => "segment (`*`)",
    }
}

/// The first sentence of a description's first paragraph, on one line.
fn summary(description: &str) -> String {
    let paragraph = description.split("\n\n").next().unwrap_or_default();
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.find(". ") {
        Some(end) => line[..=end].to_owned(),
        None => line,
    }
}

/// A proto comment as a description: each line without the one space after `//`, trimmed.
fn clean_comment(raw: &str) -> String {
    raw.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// The document eeops' server serves at [`OPENAPI_PATH`], built once.
#[cfg(feature = "server")]
pub(crate) fn served_document() -> Result<&'static Json, &'static str> {
    static DOC: std::sync::LazyLock<Result<Json, String>> = std::sync::LazyLock::new(|| {
        let info = DocumentInfo::new(
            "Google long-running operations (Earth Engine bindings), served by eeops",
            env!("CARGO_PKG_VERSION"),
        )
        .with_description(
            "The google.longrunning.Operations methods at Earth Engine's REST paths (v1, v1beta, v1alpha) and at the paths of the longrunning proto's own annotations. Google's discovery document for the same methods is at /$discovery/rest.",
        )
        .with_server_url("/")
        .with_extra_schema("google.earthengine.v1.OperationMetadata");
        document(&crate::pb::DESCRIPTOR_POOL, crate::pb::HTTP_BINDINGS, &info)
            .map_err(|e| e.to_string())
    });
    DOC.as_ref().map_err(String::as_str)
}
