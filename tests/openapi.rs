//! The OpenAPI 3.1 documents of `eeops::openapi`: for eeops' own binding table and for the
//! feature test service (`tests/protos/openapi_features.proto` over the messages of
//! `transcode_features.proto`, compiled here with protox): every binding is an operation whose
//! path routes back to that binding, `**` routes included; schemas in proto3 JSON form;
//! Google's error envelope; validation by Python's `openapi-spec-validator`; and the document
//! served by a real server.

mod server_support;

#[path = "../examples/library/mod.rs"]
mod library;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use eeops::openapi::{DocumentInfo, OPENAPI_PATH, document};
use eeops::server::emulator::{TaskOutcome, TaskSpec};
use eeops::transcode::{HttpBinding, Router};
use prost_reflect::DescriptorPool;
use serde_json::{Value as Json, json};
use server_support::Fixture;

const SVC: &str = "eeops.test.transcode.Bookshop";

const fn rule(
    method: &'static str,
    http_method: &'static str,
    template: &'static str,
    body: &'static str,
    response_body: &'static str,
) -> HttpBinding {
    HttpBinding {
        method,
        http_method,
        template,
        body,
        response_body,
        api_version: "",
    }
}

/// The bindings of tests/transcode_http_rule.rs, for the service's methods, and a few more.
static FEATURES: &[HttpBinding] = &[
    rule(
        "eeops.test.transcode.Bookshop.ListBooks",
        "GET",
        "/v1/{parent=shelves/*}/books",
        "",
        "",
    ),
    // An additional binding of the same method.
    rule(
        "eeops.test.transcode.Bookshop.ListBooks",
        "GET",
        "/v1/{parent=authors/*/shelves/*}/books",
        "",
        "",
    ),
    rule(
        "eeops.test.transcode.Bookshop.ListBooksBare",
        "GET",
        "/v1/{parent=shelves/*}/books:bare",
        "",
        "books",
    ),
    rule(
        "eeops.test.transcode.Bookshop.GetBook",
        "GET",
        "/v1/{name=shelves/*/books/*}",
        "",
        "",
    ),
    rule(
        "eeops.test.transcode.Bookshop.CreateBook",
        "POST",
        "/v1/{parent=shelves/*}/books",
        "book",
        "",
    ),
    rule(
        "eeops.test.transcode.Bookshop.UpdateBook",
        "PATCH",
        "/v1/{book.name=shelves/*/books/*}",
        "book",
        "",
    ),
    rule(
        "eeops.test.transcode.Bookshop.MoveBook",
        "POST",
        "/v1/{name=shelves/*/books/*}:move",
        "*",
        "",
    ),
    // A `custom` pattern: its kind is the HTTP method.
    rule(
        "eeops.test.transcode.Bookshop.Check",
        "CHECK",
        "/v1/shelves/{shelf_id}/genres/{genre}/keys/{key}:check",
        "",
        "book",
    ),
    rule(
        "eeops.test.transcode.Bookshop.CheckAll",
        "POST",
        "/v1/check:all",
        "*",
        "problems",
    ),
    rule(
        "eeops.test.transcode.Bookshop.Describe",
        "GET",
        "/v1/{name=catalogs/*/sections/**}:describe",
        "",
        "",
    ),
    rule(
        "eeops.test.transcode.Bookshop.Forget",
        "DELETE",
        "/v1/{name=shelves/*/books/*}",
        "",
        "",
    ),
    // A `**` with no literal before it.
    rule(
        "eeops.test.transcode.Bookshop.Forget",
        "POST",
        "/v1/{name=**}:forget",
        "",
        "",
    ),
];

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The compiler's own pool keeps the extension options (field_behavior), which a
        // `prost_types` descriptor set would drop.
        let mut compiler =
            protox::Compiler::new(["tests/protos", "proto"]).unwrap_or_else(|e| panic!("{e}"));
        compiler.include_imports(true).include_source_info(true);
        compiler
            .open_files(["openapi_features.proto"])
            .unwrap_or_else(|e| panic!("{e}"));
        compiler.descriptor_pool()
    })
}

fn features_doc() -> Json {
    document(
        pool(),
        FEATURES,
        &DocumentInfo::new("Bookshop", "v1").with_server_url("http://127.0.0.1:1"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn eeops_doc() -> Json {
    document(
        &eeops::pb::DESCRIPTOR_POOL,
        eeops::pb::HTTP_BINDINGS,
        &DocumentInfo::new("eeops", "1")
            .with_extra_schema("google.earthengine.v1.OperationMetadata"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Every operation of a document: (HTTP method, path, operation).
fn operations(doc: &Json) -> Vec<(String, String, Json)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            if key == "x-additionalOperations" {
                for (method, op) in op.as_object().unwrap() {
                    out.push((method.clone(), path.clone(), op.clone()));
                }
            } else {
                out.push((key.to_ascii_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Resolves a local `$ref`.
fn deref<'d>(doc: &'d Json, v: &'d Json) -> &'d Json {
    match v["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// A value a client could fill a path parameter with, per its schema.
fn sample(doc: &Json, param: &Json, index: usize) -> String {
    let schema = deref(doc, &param["schema"]);
    if let Some(values) = schema["enum"].as_array() {
        return values[1].as_str().unwrap().to_owned();
    }
    match schema["format"].as_str() {
        Some("int64") => "12".into(),
        Some("byte") => "a2V5".into(),
        _ => format!("v{index}"),
    }
}

/// The path with its parameters filled in, as a generated client would.
fn concrete_path(doc: &Json, path: &str, op: &Json) -> String {
    let mut concrete = path.to_owned();
    for (i, p) in op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "path")
        .enumerate()
    {
        let name = p["name"].as_str().unwrap();
        let placeholder = format!("{{{name}}}");
        assert!(concrete.contains(&placeholder), "{path}: no {placeholder}");
        assert_eq!(p["required"], true, "{path} {name}");
        concrete = concrete.replace(&placeholder, &sample(doc, p, i));
    }
    assert!(!concrete.contains('{'), "{path}: undeclared parameter");
    concrete
}

/// A query value of a parameter's schema that is not the default (so that it shows in the
/// decoded message's JSON).
fn query_sample(doc: &Json, schema: &Json) -> String {
    let schema = deref(doc, schema);
    if let Some(values) = schema["enum"].as_array() {
        return values[1].as_str().unwrap().to_owned();
    }
    let ty = match &schema["type"] {
        Json::Array(types) => types[0].as_str().unwrap(),
        other => other.as_str().unwrap(),
    };
    match (ty, schema["format"].as_str()) {
        ("string", Some("int64" | "uint64")) => "12".into(),
        ("string", Some("byte")) => "a2V5".into(),
        ("string", Some("date-time")) => "2024-05-06T07:08:09Z".into(),
        ("string", Some("google-duration")) => "3.5s".into(),
        ("string", Some("google-fieldmask")) => "a.b,c".into(),
        ("string", _) => "text".into(),
        ("integer", _) => "3".into(),
        ("number", _) => "1.5".into(),
        ("boolean", _) => "true".into(),
        other => panic!("no sample for {other:?}"),
    }
}

/// Fills each operation's path in as a generated client would, routes it through the
/// router of `bindings`, and checks that it reaches the binding the operation was made from;
/// every binding must be reached exactly once.
fn check_routes(doc: &Json, bindings: &'static [HttpBinding]) {
    let router = Router::new(bindings).unwrap();
    let mut reached = BTreeSet::new();
    let ops = operations(doc);
    assert_eq!(ops.len(), bindings.len(), "one operation per binding");
    for (method, path, op) in &ops {
        let concrete = concrete_path(doc, path, op);
        let routed = router
            .route(method, &concrete)
            .unwrap_or_else(|e| panic!("{method} {path} as {concrete}: {e}"));
        let b = routed.binding;
        let (service, rpc) = b.method.rsplit_once('.').unwrap();
        let short = service.rsplit('.').next().unwrap();
        let id = op["operationId"].as_str().unwrap();
        assert!(
            id.starts_with(&format!("{short}_{rpc}")),
            "{method} {path} routes to {} but is {id}",
            b.method
        );
        assert_eq!(op["tags"], json!([service]));
        assert!(
            reached.insert((b.http_method, b.template)),
            "{} {} reached twice",
            b.http_method,
            b.template
        );
        // Every operation answers errors in Google's envelope.
        assert_eq!(
            op["responses"]["default"]["$ref"],
            "#/components/responses/ErrorResponse"
        );
    }
    assert_eq!(reached.len(), bindings.len());
}

/// Sends every documented query parameter of every operation, with a value of its documented
/// type, to the server's decoder (and `{}` as the body where there is one): each must be
/// accepted and land in the request message under its JSON path.
fn check_query_parameters(doc: &Json, pool: &DescriptorPool, bindings: &'static [HttpBinding]) {
    let router = Router::new(bindings).unwrap();
    let mut seen = 0;
    for (method, path, op) in operations(doc) {
        let concrete = concrete_path(doc, &path, &op);
        let route = router.route(&method, &concrete).unwrap();
        let (service, rpc) = route.binding.method.rsplit_once('.').unwrap();
        let input = pool
            .get_service_by_name(service)
            .unwrap()
            .methods()
            .find(|m| m.name() == rpc)
            .unwrap()
            .input();
        let mut pairs = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] != "query" {
                continue;
            }
            let name = p["name"].as_str().unwrap();
            // One member of a oneof is enough.
            if name.ends_with("pickNumber") {
                continue;
            }
            let schema = &p["schema"];
            if schema["type"] == "array" {
                let one = query_sample(doc, &schema["items"]);
                pairs.push((name.to_owned(), one.clone()));
                pairs.push((name.to_owned(), one));
            } else {
                pairs.push((name.to_owned(), query_sample(doc, schema)));
            }
        }
        let query = eeops::transcode::encode_query(&pairs);
        let body: &[u8] = if op.get("requestBody").is_some() {
            b"{}"
        } else {
            b""
        };
        let msg = eeops::transcode::decode_request(&route, &input, Some(&query), body, &[])
            .unwrap_or_else(|e| panic!("{method} {path} ?{query}: {e}"));
        let json = serde_json::to_value(&msg).unwrap();
        for (name, _) in &pairs {
            let pointer = format!("/{}", name.replace('.', "/"));
            assert!(
                json.pointer(&pointer).is_some(),
                "{method} {path}: `{name}` not in {json}"
            );
            seen += 1;
        }
    }
    assert!(seen > 0);
}

#[test]
fn documented_query_parameters_are_what_the_server_decodes() {
    check_query_parameters(&features_doc(), pool(), FEATURES);
    check_query_parameters(
        &eeops_doc(),
        &eeops::pb::DESCRIPTOR_POOL,
        eeops::pb::HTTP_BINDINGS,
    );
}

fn param<'o>(op: &'o Json, name: &str) -> Option<&'o Json> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

fn query_names(op: &Json) -> BTreeSet<String> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn eeops_every_binding_is_an_operation_that_routes_back() {
    let doc = eeops_doc();
    assert_eq!(doc["openapi"], "3.1.0");
    check_routes(&doc, eeops::pb::HTTP_BINDINGS);

    // The `**` routes, each version's, with one parameter per wildcard.
    for v in ["v1", "v1beta", "v1alpha"] {
        let op = format!("/{v}/projects/{{projectsId}}/operations/{{operationsId}}");
        let item = &doc["paths"][&op];
        assert_eq!(
            item["get"]["operationId"],
            format!("Operations_GetOperation_{v}")
        );
        assert_eq!(
            item["delete"]["operationId"],
            format!("Operations_DeleteOperation_{v}")
        );
        let cancel = &doc["paths"][format!("{op}:cancel")]["post"];
        assert_eq!(
            cancel["operationId"],
            format!("Operations_CancelOperation_{v}")
        );
        let ids = param(cancel, "operationsId").unwrap();
        assert_eq!(ids["in"], "path");
        assert!(
            ids["description"]
                .as_str()
                .unwrap()
                .contains("projects/{projectsId}/operations/{operationsId}"),
            "{ids}"
        );
        // `body: "*"` with the name in the path: the body is the rest of the request.
        let body = &cancel["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["type"], "object");
        assert!(body.get("properties").is_none(), "{body}");
        let wait = &doc["paths"][format!("{op}:wait")]["post"];
        let body = &wait["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["timeout"]["type"], "string");
        assert!(body["properties"].get("name").is_none());
        assert_eq!(
            wait["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/google.longrunning.Operation"
        );
        let list = &doc["paths"][format!("/{v}/projects/{{projectsId}}/operations")]["get"];
        assert_eq!(
            query_names(list),
            ["filter", "pageSize", "pageToken", "returnPartialSuccess"]
                .map(String::from)
                .into()
        );
        assert_eq!(
            param(list, "pageSize").unwrap()["schema"]["format"],
            "int32"
        );
        assert!(list.get("requestBody").is_none());
    }
    // The longrunning proto's own bindings: `{name=operations}` is fixed text.
    assert_eq!(
        doc["paths"]["/v1/operations"]["get"]["operationId"],
        "Operations_ListOperations"
    );
    assert!(doc["paths"]["/v1/operations/{operationsId}:cancel"]["post"].is_object());
    let empty = &doc["paths"]["/v1/operations/{operationsId}"]["delete"]["responses"]["200"];
    assert_eq!(
        empty["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.protobuf.Empty"
    );
}

#[test]
fn eeops_schemas_are_proto3_json() {
    let doc = eeops_doc();
    let schemas = &doc["components"]["schemas"];
    let op = &schemas["google.longrunning.Operation"];
    assert_eq!(op["type"], "object");
    let p = &op["properties"];
    assert_eq!(p["name"]["type"], "string");
    assert_eq!(p["done"]["type"], "boolean");
    assert_eq!(
        p["metadata"]["$ref"],
        "#/components/schemas/google.protobuf.Any"
    );
    assert_eq!(
        p["response"]["$ref"],
        "#/components/schemas/google.protobuf.Any"
    );
    assert_eq!(p["error"]["$ref"], "#/components/schemas/google.rpc.Status");

    let status = &schemas["google.rpc.Status"]["properties"];
    assert_eq!(
        status["code"],
        json!({"type": "integer", "format": "int32"})
    );
    assert_eq!(status["message"]["type"], "string");
    assert_eq!(status["details"]["type"], "array");
    assert_eq!(
        status["details"]["items"]["$ref"],
        "#/components/schemas/google.protobuf.Any"
    );

    let any = &schemas["google.protobuf.Any"];
    assert_eq!(any["required"], json!(["@type"]));
    assert_eq!(any["properties"]["@type"]["type"], "string");
    assert_eq!(any["additionalProperties"], true);
    assert!(any["properties"].get("typeUrl").is_none());
    assert!(any["properties"].get("value").is_none());

    let list = &schemas["google.longrunning.ListOperationsResponse"]["properties"];
    assert_eq!(list["operations"]["type"], "array");
    assert_eq!(
        list["operations"]["items"]["$ref"],
        "#/components/schemas/google.longrunning.Operation"
    );
    assert_eq!(list["nextPageToken"]["type"], "string");
    assert_eq!(schemas["google.protobuf.Empty"]["type"], "object");

    // The extra schema: Earth Engine's metadata, with what it refers to.
    let meta = &schemas["google.earthengine.v1.OperationMetadata"]["properties"];
    assert_eq!(meta["createTime"]["format"], "date-time");
    assert_eq!(
        meta["state"]["$ref"],
        "#/components/schemas/google.earthengine.v1.OperationMetadata.State"
    );
    let states = &schemas["google.earthengine.v1.OperationMetadata.State"];
    assert_eq!(states["type"], "string");
    assert!(
        states["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("CANCELLING"))
    );
    assert_eq!(meta["stages"]["type"], "array");
    let stage = deref(&doc, &meta["stages"]["items"]);
    assert_eq!(stage["type"], "object");

    // Google's error envelope.
    let envelope = &schemas["ErrorResponse"];
    assert_eq!(envelope["required"], json!(["error"]));
    let error = deref(&doc, &envelope["properties"]["error"]);
    assert_eq!(error["required"], json!(["code", "message", "status"]));
    assert_eq!(error["properties"]["code"]["type"], "integer");
    assert!(
        error["properties"]["status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("NOT_FOUND"))
    );
    assert_eq!(
        error["properties"]["details"]["items"]["$ref"],
        "#/components/schemas/google.protobuf.Any"
    );
    assert_eq!(
        doc["components"]["responses"]["ErrorResponse"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorResponse"
    );
    // Every `$ref` resolves.
    check_refs(&doc, &doc);
}

fn check_refs(doc: &Json, v: &Json) {
    match v {
        Json::Object(map) => {
            if let Some(r) = map.get("$ref") {
                deref(doc, v);
                assert!(r.as_str().unwrap().starts_with("#/components/"), "{r}");
            }
            map.values().for_each(|v| check_refs(doc, v));
        }
        Json::Array(items) => items.iter().for_each(|v| check_refs(doc, v)),
        _ => {}
    }
}

#[test]
fn features_every_binding_is_an_operation_that_routes_back() {
    let doc = features_doc();
    check_routes(&doc, FEATURES);
    check_refs(&doc, &doc);
    assert_eq!(doc["servers"], json!([{"url": "http://127.0.0.1:1"}]));
    assert_eq!(
        doc["tags"],
        json!([{"name": SVC, "description": "Shelves and the books on them."}])
    );
    let paths = &doc["paths"];

    // Additional bindings: one operation each, ids numbered.
    let list = &paths["/v1/shelves/{shelvesId}/books"]["get"];
    assert_eq!(list["operationId"], "Bookshop_ListBooks");
    assert_eq!(list["summary"], "Lists the books of a shelf.");
    let list2 = &paths["/v1/authors/{authorsId}/shelves/{shelvesId}/books"]["get"];
    assert_eq!(list2["operationId"], "Bookshop_ListBooks_2");
    // No body: every other field is a query parameter, nested messages as dotted names.
    let names = query_names(list);
    for expected in [
        "pageSize",
        "pageToken",
        "filter.genre",
        "filter.genres",
        "filter.ids",
        "filter.minPages",
        "filter.inPrint",
        "filter.token",
        "filter.maxCopies",
        "filter.after",
        "filter.maxAge",
        "filter.readMask",
        "filter.raw",
        "filter.nested.deeper.level",
        "filter.nested.deeper.notes",
        "filter.nested.label",
        "filter.limit",
        "filter.stamps",
        "filter.pickName",
        "filter.pickNumber",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(!names.contains("parent"));
    let q = |name: &str| &param(list, name).unwrap()["schema"];
    assert_eq!(
        q("filter.genre")["$ref"],
        "#/components/schemas/eeops.test.transcode.Genre"
    );
    assert_eq!(q("filter.genres")["type"], "array");
    assert_eq!(q("filter.ids")["items"]["type"], "string");
    assert_eq!(q("filter.ids")["items"]["format"], "int64");
    // A wrapper in a query: its scalar (a query cannot say null).
    assert_eq!(q("filter.minPages")["type"], "integer");
    assert_eq!(q("filter.maxCopies")["format"], "uint64");
    assert_eq!(q("filter.after")["format"], "date-time");
    assert_eq!(q("filter.maxAge")["type"], "string");
    assert_eq!(q("filter.raw")["contentEncoding"], "base64");
    assert_eq!(q("filter.stamps")["items"]["format"], "date-time");
    assert_eq!(q("filter.nested.deeper.notes")["type"], "array");
    let genre = &doc["components"]["schemas"]["eeops.test.transcode.Genre"];
    assert_eq!(
        genre["enum"],
        json!(["GENRE_UNSPECIFIED", "FICTION", "HISTORY"])
    );

    // response_body: the field's schema.
    let bare = &paths["/v1/shelves/{shelvesId}/books:bare"]["get"];
    let schema = &bare["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["type"], "array");
    assert_eq!(
        schema["items"]["$ref"],
        "#/components/schemas/eeops.test.transcode.Book"
    );

    // Get and the DELETE of another method share a path item.
    let item = &paths["/v1/shelves/{shelvesId}/books/{booksId}"];
    assert_eq!(item["get"]["operationId"], "Bookshop_GetBook");
    assert_eq!(query_names(&item["get"]), ["readMask".to_string()].into());
    assert_eq!(item["delete"]["operationId"], "Bookshop_Forget");
    assert_eq!(
        item["delete"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.protobuf.Empty"
    );
    // body: "field": the field is the body, the rest query parameters.
    let update = &item["patch"];
    assert_eq!(update["operationId"], "Bookshop_UpdateBook");
    assert_eq!(
        update["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/eeops.test.transcode.Book"
    );
    assert_eq!(query_names(update), ["updateMask".to_string()].into());
    let create = &paths["/v1/shelves/{shelvesId}/books"]["post"];
    assert_eq!(query_names(create), ["requestId".to_string()].into());
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/eeops.test.transcode.Book"
    );

    // body: "*" less the path field, custom verb.
    let body = &paths["/v1/shelves/{shelvesId}/books/{booksId}:move"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let props: BTreeSet<&String> = body["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        props,
        ["deadline", "otherShelfName", "reasons"]
            .map(String::from)
            .iter()
            .collect()
    );
    let all = &paths["/v1/check:all"]["post"];
    assert_eq!(
        all["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/eeops.test.transcode.CheckRequest"
    );
    assert_eq!(
        all["responses"]["200"]["content"]["application/json"]["schema"],
        json!({"type": "array", "items": {"type": "string"}})
    );

    // A custom method: single-segment variables typed as their fields.
    let check = &paths["/v1/shelves/{shelfId}/genres/{genre}/keys/{key}:check"]["x-additionalOperations"]
        ["CHECK"];
    assert_eq!(check["operationId"], "Bookshop_Check");
    assert_eq!(
        param(check, "shelfId").unwrap()["schema"]["format"],
        "int64"
    );
    assert_eq!(
        param(check, "genre").unwrap()["schema"]["$ref"],
        "#/components/schemas/eeops.test.transcode.Genre"
    );
    assert_eq!(param(check, "key").unwrap()["schema"]["format"], "byte");
    assert_eq!(query_names(check), ["strict".to_string()].into());

    // `**` after a literal, and with none before it.
    let describe = &paths["/v1/catalogs/{catalogsId}/sections/{sectionsId}:describe"]["get"];
    assert_eq!(describe["operationId"], "Bookshop_Describe");
    // The summary is the comment's first sentence; the description all of it.
    assert_eq!(
        describe["summary"],
        "Describes a catalog, with every section."
    );
    assert!(
        describe["description"]
            .as_str()
            .unwrap()
            .ends_with("\n\nA second paragraph.")
    );
    let forget = &paths["/v1/{name}:forget"]["post"];
    assert_eq!(forget["operationId"], "Bookshop_Forget_2");
    assert!(forget.get("requestBody").is_none());
}

#[test]
fn features_query_of_a_recursive_message_and_field_behavior() {
    let doc = features_doc();
    let describe = &doc["paths"]["/v1/catalogs/{catalogsId}/sections/{sectionsId}:describe"]["get"];
    let names = query_names(describe);
    // REQUIRED at the top level is a required parameter.
    let since = param(describe, "since").unwrap();
    assert_eq!(since["required"], true);
    assert_eq!(since["description"], "Only what changed since.");
    assert_eq!(since["schema"]["format"], "int64");
    assert!(
        param(describe, "filter.count")
            .unwrap()
            .get("required")
            .is_none()
    );
    // What a query cannot carry is left out: maps, repeated messages, Any, Struct, Value,
    // ListValue, Empty, and the message's own type again.
    for present in [
        "filter.name",
        "filter.count",
        "filter.title",
        "filter.updated",
        "filter.ttl",
        "filter.mask",
        "filter.big",
        "filter.note",
        "filter.genre",
        "filter.digest",
    ] {
        assert!(names.contains(present), "{present} missing from {names:?}");
    }
    for absent in [
        "name",
        "filter.displayName",
        "filter.booksById",
        "filter.names",
        "filter.children",
        "filter.extra",
        "filter.anything",
        "filter.list",
        "filter.attachment",
        "filter.nothing",
        "filter.gap",
    ] {
        assert!(!names.contains(absent), "{absent} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("filter.parent")),
        "{names:?}"
    );
}

#[test]
fn features_schemas_are_proto3_json() {
    let doc = features_doc();
    let catalog = &doc["components"]["schemas"]["eeops.test.transcode.Catalog"];
    assert_eq!(
        catalog["description"],
        "Every proto3 JSON form in one message."
    );
    assert_eq!(catalog["required"], json!(["count"]));
    let p = &catalog["properties"];
    let expect = |name: &str, want: Json| {
        let mut got = p[name].clone();
        if let Json::Object(m) = &mut got {
            m.remove("description");
        }
        assert_eq!(got, want, "{name}");
    };
    expect(
        "count",
        json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}),
    );
    expect(
        "total",
        json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}),
    );
    expect(
        "digest",
        json!({"type": "string", "format": "byte", "contentEncoding": "base64"}),
    );
    expect(
        "genre",
        json!({"$ref": "#/components/schemas/eeops.test.transcode.Genre"}),
    );
    expect("updated", json!({"type": "string", "format": "date-time"}));
    expect(
        "ttl",
        json!({"type": "string", "format": "google-duration", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"}),
    );
    expect(
        "mask",
        json!({"type": "string", "format": "google-fieldmask"}),
    );
    expect(
        "big",
        json!({"type": ["string", "null"], "format": "int64", "pattern": "^-?[0-9]+$"}),
    );
    expect("note", json!({"type": ["string", "null"]}));
    expect(
        "extra",
        json!({"type": "object", "additionalProperties": true}),
    );
    expect("anything", json!({}));
    expect("list", json!({"type": "array", "items": {}}));
    expect(
        "attachment",
        json!({"$ref": "#/components/schemas/google.protobuf.Any"}),
    );
    expect(
        "nothing",
        json!({"$ref": "#/components/schemas/google.protobuf.Empty"}),
    );
    expect(
        "booksById",
        json!({"type": "object", "additionalProperties": {"$ref": "#/components/schemas/eeops.test.transcode.Book"}}),
    );
    expect(
        "names",
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
    );
    // Recursion through `$ref`.
    expect(
        "parent",
        json!({"$ref": "#/components/schemas/eeops.test.transcode.Catalog"}),
    );
    expect(
        "children",
        json!({"type": "array", "items": {"$ref": "#/components/schemas/eeops.test.transcode.Catalog"}}),
    );
    // json_name.
    expect("title", json!({"type": "string"}));
    assert!(p.get("displayName").is_none());
    expect("rating", json!({"type": "number", "format": "double"}));
    expect("ratio", json!({"type": "number", "format": "float"}));
    expect(
        "small",
        json!({"type": "integer", "format": "uint32", "minimum": 0}),
    );
    expect("delta", json!({"type": "integer", "format": "int32"}));
    expect("gap", json!({"type": "null"}));
    // Field behaviours and options.
    assert_eq!(p["name"]["readOnly"], true);
    assert_eq!(p["name"]["description"], "The catalog's name.");
    assert_eq!(p["secret"]["writeOnly"], true);
    assert_eq!(p["secret"]["deprecated"], true);

    let book = &doc["components"]["schemas"]["eeops.test.transcode.Book"]["properties"];
    assert_eq!(
        book["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string"}})
    );
    assert_eq!(book["publishTime"]["format"], "date-time");
    assert_eq!(book["cover"]["format"], "byte");
}

#[test]
fn bad_tables_are_refused_naming_the_binding() {
    let info = DocumentInfo::new("t", "1");
    static UNKNOWN_FIELD: &[HttpBinding] = &[rule(
        "eeops.test.transcode.Bookshop.GetBook",
        "GET",
        "/v1/{shelf=shelves/*}",
        "",
        "",
    )];
    let err = document(pool(), UNKNOWN_FIELD, &info).unwrap_err();
    assert!(err.to_string().contains("`shelf` is not a field"), "{err}");
    assert_eq!(
        err.subject(),
        "GET /v1/{shelf=shelves/*} (eeops.test.transcode.Bookshop.GetBook)"
    );
    static SAME_OPERATION: &[HttpBinding] = &[
        rule(
            "eeops.test.transcode.Bookshop.GetBook",
            "GET",
            "/v1/{name=shelves/*/books/*}",
            "",
            "",
        ),
        rule(
            "eeops.test.transcode.Bookshop.Forget",
            "GET",
            "/v1/{name=shelves/*/books/*}",
            "",
            "",
        ),
    ];
    let err = document(pool(), SAME_OPERATION, &info).unwrap_err();
    assert!(
        err.to_string()
            .contains("same OpenAPI operation (GET /v1/shelves/{shelvesId}/books/{booksId})"),
        "{err}"
    );
    static BAD_BODY: &[HttpBinding] = &[rule(
        "eeops.test.transcode.Bookshop.CreateBook",
        "POST",
        "/v1/{parent=shelves/*}/books",
        "volume",
        "",
    )];
    let err = document(pool(), BAD_BODY, &info).unwrap_err();
    assert!(err.to_string().contains("body `volume`"), "{err}");
    static BAD_TEMPLATE: &[HttpBinding] = &[rule(
        "eeops.test.transcode.Bookshop.GetBook",
        "GET",
        "/v1/{name=**}/x",
        "",
        "",
    )];
    let err = document(pool(), BAD_TEMPLATE, &info).unwrap_err();
    assert!(err.to_string().contains("bad path template"), "{err}");
    let err = document(
        pool(),
        FEATURES,
        &info.clone().with_extra_schema("eeops.test.transcode.Nope"),
    )
    .unwrap_err();
    assert_eq!(err.subject(), "extra schema eeops.test.transcode.Nope");
}

/// The interpreter named by `EEOPS_PYTHON` (as the interop tests find Python); `None`, after
/// printing SKIPPED, when it is not set outside CI.
fn python() -> Option<String> {
    match std::env::var("EEOPS_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "EEOPS_PYTHON is not set, and CI is: the OpenAPI validation cannot be skipped"
            );
            eprintln!("SKIPPED: EEOPS_PYTHON is not set, so openapi-spec-validator cannot run");
            None
        }
    }
}

/// Runs `tests/interop/{script}` on JSON files holding `values`; returns its exit code and
/// output, or `None` (after printing SKIPPED) when Python or the validator is missing
/// outside CI.
fn run_script(script: &str, tag: &str, values: &[(&str, &Json)]) -> Option<(i32, String)> {
    let python = python()?;
    // One directory per call: the tests run in parallel.
    let dir = std::env::temp_dir().join(format!("eeops-openapi-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, value) in values {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        files.push(file.display().to_string());
    }
    let script = format!("{}/tests/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&python)
        .arg(&script)
        .args(&files)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or(-1);
    if code == 3 {
        assert!(
            std::env::var_os("CI").is_none(),
            "{script}: {stderr} (CI installs tests/interop/requirements.txt)"
        );
        eprintln!("SKIPPED: {}", stderr.trim());
        return None;
    }
    Some((code, format!("{stdout}\n{stderr}")))
}

/// Validates documents with Python's openapi-spec-validator.
fn validate_with_python(tag: &str, docs: &[(&str, &Json)]) {
    if let Some((code, output)) = run_script("openapi_validate.py", tag, docs) {
        assert!(
            code == 0 && output.trim_end().ends_with("ok"),
            "openapi-spec-validator refused a document ({code}):\n{output}"
        );
    }
}

/// Validates values against schemas of `doc` (JSON pointers) with openapi-schema-validator,
/// every object schema closed to members it does not name.
fn validate_instances(tag: &str, doc: &Json, cases: &[(String, String, Json)]) {
    let cases: Vec<Json> = cases
        .iter()
        .map(|(name, schema, instance)| {
            assert!(
                doc.pointer(schema).is_some(),
                "{name}: no schema at {schema}"
            );
            json!({ "name": name, "schema": schema, "instance": instance })
        })
        .collect();
    let cases = Json::Array(cases);
    let files = [("doc", doc), ("cases", &cases)];
    if let Some((code, output)) = run_script("openapi_instances.py", tag, &files) {
        assert!(
            code == 0 && output.trim_end().ends_with("ok"),
            "values do not fit the document's schemas ({code}):\n{output}"
        );
        eprintln!("{}", output.trim());
    }
}

/// A JSON pointer to the schema of an operation's 200 response.
fn response_schema(path: &str, method: &str) -> String {
    format!(
        "/paths/{}/{method}/responses/200/content/application~1json/schema",
        path.replace('~', "~0").replace('/', "~1")
    )
}

#[test]
fn documents_pass_openapi_spec_validator() {
    validate_with_python(
        "spec",
        &[("eeops", &eeops_doc()), ("features", &features_doc())],
    );
}

/// The validator must catch a broken document, or the test above proves nothing.
#[test]
fn openapi_spec_validator_catches_a_broken_document() {
    let mut doc = features_doc();
    // A path parameter that the path does not declare.
    doc["paths"]["/v1/check:all"]["post"]["parameters"] =
        json!([{"name": "ghost", "in": "path", "required": true, "schema": {"type": "string"}}]);
    if let Some((code, output)) = run_script("openapi_validate.py", "broken", &[("broken", &doc)]) {
        assert_eq!(code, 1, "{output}");
        assert!(output.contains("ghost"), "{output}");
    }
}

/// proto3 JSON as prost-reflect writes it (the server's encoder) fits the schemas: every
/// field of Catalog set, `Any`s packing a message and a well-known type; and values that
/// break a schema are caught.
#[test]
fn proto3_json_fits_the_feature_schemas() {
    let doc = features_doc();
    let catalog = |value: Json| {
        let desc = pool()
            .get_message_by_name("eeops.test.transcode.Catalog")
            .unwrap();
        let msg = prost_reflect::DynamicMessage::deserialize(desc, value)
            .unwrap_or_else(|e| panic!("{e}"));
        msg.serialize_with_options(
            serde_json::value::Serializer,
            &prost_reflect::SerializeOptions::new().stringify_64_bit_integers(true),
        )
        .unwrap()
    };
    let full = catalog(json!({
        "name": "catalogs/c",
        "count": "-12",
        "total": "18446744073709551615",
        "digest": "AAEC",
        "genre": "HISTORY",
        "updated": "2024-05-06T07:08:09.123Z",
        "ttl": "3.5s",
        "mask": "a.b,c",
        "big": "9007199254740993",
        "note": "n",
        "extra": {"a": [1, "b", null]},
        "anything": [1, {"x": true}],
        "list": [1, "two"],
        "attachment": {
            "@type": "type.googleapis.com/eeops.test.transcode.Book",
            "name": "shelves/s/books/b",
            "publishTime": "2024-01-01T00:00:00Z",
            "labels": {"k": "v"}
        },
        "nothing": {},
        "booksById": {"b1": {"title": "T", "author": {"displayName": "A", "genre": "FICTION"}}},
        "names": {"7": "seven"},
        "parent": {"name": "catalogs/p", "count": "1", "parent": {"count": "2"}},
        "children": [{"count": "3"}, {"count": "4", "children": [{"count": "5"}]}],
        "title": "Display",
        "rating": 4.5,
        "ratio": 0.25,
        "small": 4294967295u32,
        "delta": -7,
        "gap": null,
        "secret": "s"
    }));
    // Every field really is in the value checked.
    assert_eq!(full.as_object().unwrap().len(), 25, "{full}");
    let duration_any = catalog(json!({
        "count": "1",
        "attachment": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.5s"}
    }));
    let schema = "/components/schemas/eeops.test.transcode.Catalog".to_owned();
    let mut cases = vec![
        ("full catalog".to_owned(), schema.clone(), full.clone()),
        (
            "an Any of a Duration".to_owned(),
            schema.clone(),
            duration_any,
        ),
        (
            "the move response".to_owned(),
            response_schema("/v1/shelves/{shelvesId}/books/{booksId}:move", "post"),
            json!({"name": "shelves/s/books/b", "tags": ["x"], "cover": "AA=="}),
        ),
    ];
    validate_instances("fit", &doc, &cases);

    // And the checks bite: a 64-bit integer as a number, an enum by number, a field by its
    // proto name, an `Any` without `@type`.
    cases.clear();
    for (what, key, bad) in [
        ("int64 as a number", "count", json!(12)),
        ("enum by number", "genre", json!(2)),
        ("Any without @type", "attachment", json!({"name": "x"})),
        ("proto name", "display_name", json!("x")),
    ] {
        let mut value = json!({"count": "1"});
        value[key] = bad;
        cases.push((what.to_owned(), schema.clone(), value));
    }
    if let Some((code, output)) = run_script(
        "openapi_instances.py",
        "bite",
        &[
            ("doc", &doc),
            (
                "cases",
                &Json::Array(
                    cases
                        .iter()
                        .map(|(n, s, i)| json!({"name": n, "schema": s, "instance": i}))
                        .collect(),
                ),
            ),
        ],
    ) {
        assert_eq!(code, 1, "{output}");
        for (what, _, _) in &cases {
            assert!(
                output.contains(what.as_str()),
                "{what} not caught:\n{output}"
            );
        }
    }
}

#[tokio::test]
async fn server_serves_the_document() {
    let fx = Fixture::manual().await;
    let (status, served) = fx.get(OPENAPI_PATH).await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["servers"], json!([{"url": "/"}]));
    let expected = eeops_doc();
    assert_eq!(served["paths"], expected["paths"]);
    assert_eq!(served["components"], expected["components"]);
    assert!(
        served["info"]["description"]
            .as_str()
            .unwrap()
            .contains("/$discovery/rest")
    );

    // The error a real request gets fits the envelope the document describes.
    let (status, error) = fx.get("/v1/projects/p/operations/NOPE").await;
    assert_eq!(status, 404);
    let shape = &served["components"]["schemas"]["ErrorStatus"];
    for key in shape["required"].as_array().unwrap() {
        assert!(
            error["error"].get(key.as_str().unwrap()).is_some(),
            "{error}"
        );
    }
    assert!(
        shape["properties"]["status"]["enum"]
            .as_array()
            .unwrap()
            .contains(&error["error"]["status"])
    );
    assert_eq!(error["error"]["code"], 404);

    // Only GET; the discovery document stays beside it.
    let (status, error) = fx.post(OPENAPI_PATH, "{}").await;
    assert_eq!(status, 405, "{error}");
    let (status, discovery) = fx.get("/$discovery/rest?version=v1").await;
    assert_eq!(status, 200);
    assert_eq!(discovery["kind"], "discovery#restDescription");

    validate_with_python("served", &[("served", &served)]);
    fx.handle.shutdown().await;
}

/// What the server answers, at paths filled in from the served document as a generated client
/// fills them, fits the document's response schemas (closed to members they do not name):
/// operations running, succeeded and failed, their Earth Engine metadata, a list, wait,
/// cancel, delete, and errors in Google's envelope.
#[tokio::test]
async fn server_answers_fit_the_served_document() {
    let fx = Fixture::manual().await;
    let (status, doc) = fx.get(OPENAPI_PATH).await;
    assert_eq!(status, 200);
    let running = fx
        .emu
        .start_task("p", TaskSpec::default().with_start_running(true));
    let work = Duration::from_secs(1);
    let succeeded = fx.emu.start_task(
        "p",
        TaskSpec::default().with_start_running(true).with_work(work),
    );
    let failed = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_start_running(true)
            .with_work(work)
            .with_outcome(TaskOutcome::Fail),
    );
    fx.emu.advance(Duration::from_secs(5));

    let op_path = "/v1/projects/{projectsId}/operations/{operationsId}";
    let fill = |template: &str, name: &str| {
        let id = name.rsplit('/').next().unwrap();
        template
            .replace("{projectsId}", "p")
            .replace("{operationsId}", id)
    };
    let meta_schema = "/components/schemas/google.earthengine.v1.OperationMetadata".to_owned();
    let error_schema =
        "/components/responses/ErrorResponse/content/application~1json/schema".to_owned();
    let mut cases = Vec::new();
    for name in [&running, &succeeded, &failed] {
        let (status, op) = fx.get(&fill(op_path, name)).await;
        assert_eq!(status, 200, "{op}");
        let mut meta = op["metadata"].clone();
        meta.as_object_mut().unwrap().remove("@type");
        cases.push((format!("metadata of {name}"), meta_schema.clone(), meta));
        cases.push((format!("get {name}"), response_schema(op_path, "get"), op));
    }
    let list_path = "/v1/projects/{projectsId}/operations";
    let (status, list) = fx.get(&format!("{}?pageSize=2", fill(list_path, ""))).await;
    assert_eq!(status, 200, "{list}");
    assert!(list["nextPageToken"].is_string());
    cases.push(("list".into(), response_schema(list_path, "get"), list));

    let wait = format!("{op_path}:wait");
    let (status, op) = fx
        .post(&fill(&wait, &succeeded), r#"{"timeout":"0.5s"}"#)
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["done"], true);
    cases.push(("wait".into(), response_schema(&wait, "post"), op));

    let cancel = format!("{op_path}:cancel");
    let (status, body) = fx.post(&fill(&cancel, &running), "{}").await;
    assert_eq!(status, 200, "{body}");
    cases.push(("cancel".into(), response_schema(&cancel, "post"), body));

    let (status, body) = fx
        .rest(fx.http.delete(fx.url(&fill(op_path, &succeeded))))
        .await;
    assert_eq!(status, 200, "{body}");
    cases.push(("delete".into(), response_schema(op_path, "delete"), body));

    let (status, body) = fx.get(&fill(op_path, &succeeded)).await;
    assert_eq!(status, 404, "{body}");
    cases.push(("404".into(), error_schema.clone(), body));
    let (status, body) = fx
        .get(&format!("{}?pageSize=many", fill(list_path, "")))
        .await;
    assert_eq!(status, 400, "{body}");
    cases.push(("400".into(), error_schema, body));

    validate_instances("served-answers", &doc, &cases);
    fx.handle.shutdown().await;
}

/// What a generated client does with the `**` parameter: it percent-encodes the value as one
/// segment (RFC 6570 simple expansion, OpenAPI's default `style: simple`). An id with
/// reserved characters comes back whole; a `/` in it stays `%2F`, as the module documents.
#[test]
fn deep_wildcard_parameter_as_a_generated_client_fills_it() {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let doc = eeops_doc();
    let path = "/v1/projects/{projectsId}/operations/{operationsId}:cancel";
    assert!(doc["paths"][path]["post"].is_object());
    let router = eeops::transcode::generated_router().unwrap();
    for (id, name) in [
        ("ABC234", "projects/my-project/operations/ABC234"),
        ("x:y z", "projects/my-project/operations/x:y z"),
        ("a/b", "projects/my-project/operations/a%2Fb"),
    ] {
        let filled = path.replace("{projectsId}", "my-project").replace(
            "{operationsId}",
            &utf8_percent_encode(id, UNRESERVED).to_string(),
        );
        let routed = router.route("POST", &filled).unwrap();
        assert_eq!(
            routed.binding.method,
            "google.longrunning.Operations.CancelOperation"
        );
        assert_eq!(
            routed.variables,
            [("name".to_owned(), name.to_owned())],
            "{id}"
        );
    }
}

/// A server of several generated services describes all of them: the Library's routes and
/// schemas beside Operations' (each from its own descriptor set), one valid document.
#[tokio::test]
async fn server_describes_every_service_it_serves() {
    use eeops::pb::google::longrunning::operations_rest::OperationsRest;
    use eeops::server::emulator::Emulator;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = library::serve::server(library::store::Library::new())
        .add_service(OperationsRest::new(Emulator::default()))
        .serve_listener(listener)
        .await
        .unwrap();
    let url = format!("{}{OPENAPI_PATH}", served.url());
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Json = response.json().await.unwrap();
    served.shutdown().await;

    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/shelves",
        "/v1/shelves/{shelvesId}/books/{booksId}",
        "/v1/projects/{projectsId}/operations/{operationsId}:cancel",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing: {:?}",
            paths.keys()
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for schema in [
        "google.example.library.v1.Book",
        "google.longrunning.Operation",
    ] {
        assert!(
            schemas.keys().any(|k| k.ends_with(schema) || k == schema),
            "{schema} missing: {:?}",
            schemas.keys()
        );
    }
    let title = doc["info"]["title"].as_str().unwrap();
    assert!(
        title.contains("google.example.library.v1.LibraryService"),
        "{title}"
    );
    assert!(title.contains("google.longrunning.Operations"), "{title}");
    validate_with_python("two_services", &[("two_services", &doc)]);
}
