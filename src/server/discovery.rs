//! A discovery document for the `projects.operations` methods, built from the binding table and
//! the descriptor pool, so that discovery-based clients (Google's earthengine-api and
//! google-api-python-client) can be pointed at the server.

use http::HeaderMap;
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value as Json, json};

use super::rest::RestError;
use crate::pb::google::rpc::Code;

/// The API versions a document is served for.
const VERSIONS: &[&str] = &["v1", "v1beta", "v1alpha"];

/// Messages described under `schemas` (the ones the methods reference, and what they contain).
const SCHEMAS: &[&str] = &[
    "google.longrunning.Operation",
    "google.longrunning.ListOperationsResponse",
    "google.longrunning.CancelOperationRequest",
    "google.longrunning.WaitOperationRequest",
    "google.protobuf.Empty",
    "google.rpc.Status",
    "google.earthengine.v1.OperationMetadata",
    "google.earthengine.v1.OperationStage",
    "google.earthengine.v1.OperationNotification",
];

const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/earthengine",
    "https://www.googleapis.com/auth/earthengine.readonly",
];

/// Builds the document for `?version=` (default `v1`), with `rootUrl` the address the request
/// came to (its `Host` header, or over HTTP/2 its `:authority`), `https` when it came over TLS.
pub(crate) fn document(
    query: Option<&str>,
    headers: &HeaderMap,
    authority: Option<&str>,
    over_tls: bool,
) -> Result<Json, RestError> {
    let mut version = "v1".to_owned();
    for (key, value) in crate::codec::query_pairs_lossy(query.unwrap_or_default()) {
        if key == "version" {
            version = value.into_owned();
        }
    }
    if !VERSIONS.contains(&version.as_str()) {
        return Err(RestError::new(
            Code::NotFound,
            format!(
                "no discovery document for version `{version}` (served: {})",
                VERSIONS.join(", ")
            ),
        ));
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority)
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']))
        .unwrap_or("localhost");
    let scheme = if over_tls { "https" } else { "http" };
    let root = format!("{scheme}://{host}/");

    let mut methods = Map::new();
    for b in crate::pb::HTTP_BINDINGS
        .iter()
        .filter(|b| b.api_version == version)
    {
        let Some(short) = method_name(b.method) else {
            continue;
        };
        methods.insert(short.to_owned(), method(&version, short, b));
    }

    let mut schemas = Map::new();
    for name in SCHEMAS {
        if let Some(desc) = crate::pb::DESCRIPTOR_POOL.get_message_by_name(name) {
            schemas.insert(desc.name().to_owned(), schema(&desc));
        }
    }

    let scopes: Map<String, Json> = SCOPES
        .iter()
        .map(|s| (s.to_string(), json!({ "description": s })))
        .collect();

    Ok(json!({
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": format!("earthengine:{version}"),
        "name": "earthengine",
        "canonicalName": "Earth Engine",
        "version": version,
        "revision": "0",
        "title": "Google Earth Engine API (eeops server: operations only)",
        "description": "The long-running operations methods of the Earth Engine API, served by eeops.",
        "protocol": "rest",
        "ownerDomain": "google.com",
        "ownerName": "Google",
        "rootUrl": root,
        "mtlsRootUrl": root,
        "servicePath": "",
        "baseUrl": root,
        "batchPath": "batch",
        "fullyEncodeReservedExpansion": true,
        "auth": { "oauth2": { "scopes": scopes } },
        "parameters": global_parameters(),
        "resources": {
            "projects": {
                "resources": {
                    "operations": { "methods": methods }
                }
            }
        },
        "schemas": schemas,
    }))
}

fn method_name(rpc: &str) -> Option<&'static str> {
    Some(match rpc.rsplit('.').next()? {
        "CancelOperation" => "cancel",
        "DeleteOperation" => "delete",
        "GetOperation" => "get",
        "ListOperations" => "list",
        "WaitOperation" => "wait",
        _ => return None,
    })
}

/// `/v1/{name=projects/*/operations/**}:cancel` -> (`v1/{+name}:cancel`,
/// `v1/projects/{projectsId}/operations/{operationsId}:cancel`, `^projects/[^/]+/operations/.*$`).
fn paths(template: &str) -> (String, String, String) {
    let t = template.trim_start_matches('/');
    let (Some(open), Some(close)) = (t.find('{'), t.find('}')) else {
        return (t.to_owned(), t.to_owned(), String::new());
    };
    let var = &t[open + 1..close];
    let (field, pattern) = var.split_once('=').unwrap_or((var, "*"));
    let path = format!("{}{{+{field}}}{}", &t[..open], &t[close + 1..]);
    let mut flat = Vec::new();
    let mut regex = Vec::new();
    let mut prev = "";
    for seg in pattern.split('/') {
        match seg {
            "*" | "**" => {
                flat.push(format!("{{{prev}Id}}"));
                regex.push(if seg == "*" { "[^/]+" } else { ".*" }.to_owned());
            }
            lit => {
                flat.push(lit.to_owned());
                regex.push(lit.to_owned());
            }
        }
        prev = seg;
    }
    let flat_path = format!("{}{}{}", &t[..open], flat.join("/"), &t[close + 1..]);
    (path, flat_path, format!("^{}$", regex.join("/")))
}

fn method(version: &str, short: &str, b: &crate::transcode::HttpBinding) -> Json {
    let (path, flat_path, pattern) = paths(b.template);
    let mut parameters = Map::new();
    parameters.insert(
        "name".into(),
        json!({
            "description": "The name of the operation resource (for list: of its parent).",
            "location": "path",
            "pattern": pattern,
            "required": true,
            "type": "string",
        }),
    );
    if short == "list" {
        parameters.insert(
            "filter".into(),
            json!({"description": "The standard list filter.", "location": "query", "type": "string"}),
        );
        parameters.insert(
            "pageSize".into(),
            json!({"description": "The standard list page size.", "format": "int32", "location": "query", "type": "integer"}),
        );
        parameters.insert(
            "pageToken".into(),
            json!({"description": "The standard list page token.", "location": "query", "type": "string"}),
        );
        parameters.insert(
            "returnPartialSuccess".into(),
            json!({"description": "Not supported: `true` answers UNIMPLEMENTED (Earth Engine documents no partial success).", "location": "query", "type": "boolean"}),
        );
    }
    let response = match short {
        "get" | "wait" => "Operation",
        "list" => "ListOperationsResponse",
        _ => "Empty",
    };
    let mut m = json!({
        "id": format!("earthengine.projects.operations.{short}"),
        "path": path,
        "flatPath": flat_path,
        "httpMethod": b.http_method,
        "parameters": parameters,
        "parameterOrder": ["name"],
        "response": { "$ref": response },
        "scopes": SCOPES,
        "description": match short {
            "delete" => format!(
                "{} ({version}): the client is no longer interested in the result; removes the \
                 record and does not cancel the operation.",
                b.method
            ),
            "cancel" => format!(
                "{} ({version}): best effort; a cancelled operation ends done with error code 1 \
                 (CANCELLED) and is not deleted.",
                b.method
            ),
            _ => format!("{} ({version})", b.method),
        },
    });
    match short {
        "cancel" => m["request"] = json!({ "$ref": "CancelOperationRequest" }),
        "wait" => m["request"] = json!({ "$ref": "WaitOperationRequest" }),
        _ => {}
    }
    m
}

fn global_parameters() -> Json {
    let string = |d: &str| json!({ "description": d, "location": "query", "type": "string" });
    json!({
        "$.xgafv": string("V1 error format."),
        "access_token": string("OAuth access token."),
        "alt": { "default": "json", "description": "Data format for response.", "enum": ["json"],
                 "enumDescriptions": ["Responses with Content-Type of application/json"],
                 "location": "query", "type": "string" },
        "callback": string("JSONP"),
        "fields": string("Selector specifying which fields to include in a partial response."),
        "key": string("API key."),
        "oauth_token": string("OAuth 2.0 token for the current user."),
        "prettyPrint": { "default": "true", "description": "Returns response with indentations and line breaks.",
                         "location": "query", "type": "boolean" },
        "quotaUser": string("Quota user."),
        "uploadType": string("Legacy upload protocol for media."),
        "upload_protocol": string("Upload protocol for media."),
    })
}

/// A discovery schema of one message, from its descriptor.
fn schema(desc: &MessageDescriptor) -> Json {
    let mut properties = Map::new();
    for field in desc.fields() {
        let mut t = field_type(&field.kind());
        if field.is_list() {
            t = json!({ "type": "array", "items": t });
        } else if field.is_map() {
            t = json!({ "type": "object", "additionalProperties": { "type": "string" } });
        }
        properties.insert(field.json_name().to_owned(), t);
    }
    json!({
        "id": desc.name(),
        "type": "object",
        "description": desc.full_name(),
        "properties": properties,
    })
}

fn field_type(kind: &Kind) -> Json {
    match kind {
        Kind::Double => json!({"type": "number", "format": "double"}),
        Kind::Float => json!({"type": "number", "format": "float"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "uint32"}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({"type": "string", "enum": names})
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Timestamp" => json!({"type": "string", "format": "google-datetime"}),
            "google.protobuf.Duration" => json!({"type": "string", "format": "google-duration"}),
            "google.protobuf.Any" => {
                json!({"type": "object", "additionalProperties": {"type": "any"}})
            }
            "google.protobuf.Struct" => {
                json!({"type": "object", "additionalProperties": {"type": "any"}})
            }
            _ if SCHEMAS.contains(&m.full_name()) => json!({"$ref": m.name()}),
            _ => json!({"type": "object"}),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_templates() {
        let (p, f, r) = paths("/v1/{name=projects/*/operations/**}:cancel");
        assert_eq!(p, "v1/{+name}:cancel");
        assert_eq!(
            f,
            "v1/projects/{projectsId}/operations/{operationsId}:cancel"
        );
        assert_eq!(r, "^projects/[^/]+/operations/.*$");
        let (p, f, r) = paths("/v1alpha/{name=projects/*}/operations");
        assert_eq!(p, "v1alpha/{+name}/operations");
        assert_eq!(f, "v1alpha/projects/{projectsId}/operations");
        assert_eq!(r, "^projects/[^/]+$");
    }

    #[test]
    fn document_has_five_methods() {
        let doc = document(Some("version=v1beta"), &HeaderMap::new(), None, false).unwrap();
        let methods = &doc["resources"]["projects"]["resources"]["operations"]["methods"];
        for m in ["cancel", "delete", "get", "list", "wait"] {
            assert!(methods[m]["path"].is_string(), "{m}");
        }
        assert_eq!(
            doc["schemas"]["ListOperationsResponse"]["properties"]["nextPageToken"]["type"],
            "string"
        );
        assert_eq!(doc["rootUrl"], "http://localhost/");
    }

    #[test]
    fn root_url_from_host_or_authority_and_scheme() {
        let mut headers = HeaderMap::new();
        let doc = document(None, &headers, Some("h2.example:8443"), true).unwrap();
        assert_eq!(doc["rootUrl"], "https://h2.example:8443/");
        headers.insert(http::header::HOST, "h1.example".parse().unwrap());
        let doc = document(None, &headers, Some("h2.example:8443"), false).unwrap();
        assert_eq!(doc["rootUrl"], "http://h1.example/");
        let doc = document(None, &HeaderMap::new(), Some("user@h"), false).unwrap();
        assert_eq!(doc["rootUrl"], "http://localhost/");
    }
}
