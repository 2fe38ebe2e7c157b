//! The OpenAPI 3.1 documents of `eeops::openapi`: for eeops' own binding table and for the
//! feature test service (`tests/protos/openapi_features.proto` over the messages of
//! `transcode_features.proto`, compiled here with protox): every binding is an operation whose
//! path routes back to that binding, `**` routes included; schemas in proto3 JSON form;
//! Google's error envelope; validation by Python's `openapi-spec-validator`; and the document
//! served by a real server.

mod server_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use eeops::openapi::{DocumentInfo, OPENAPI_PATH, document};
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

/// Fills each operation's path in as a generated client would, routes it through the
/// router of `bindings`, and checks that it reaches the binding the operation was made from;
/// every binding must be reached exactly once.
fn check_routes(doc: &Json, bindings: &'static [HttpBinding]) {
    let router = Router::new(bindings).unwrap();
    let mut reached = BTreeSet::new();
    let ops = operations(doc);
    assert_eq!(ops.len(), bindings.len(), "one operation per binding");
    for (method, path, op) in &ops {
        let mut concrete = path.clone();
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

/// Validates documents with Python's openapi-spec-validator (`EEOPS_PYTHON`, as the interop
/// tests find Python).
fn validate_with_python(docs: &[(&str, &Json)]) {
    let python = match std::env::var("EEOPS_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "EEOPS_PYTHON is not set, and CI is: the OpenAPI validation cannot be skipped"
            );
            eprintln!("SKIPPED: EEOPS_PYTHON is not set, so openapi-spec-validator cannot run");
            return;
        }
    };
    // One directory per call: the tests run in parallel.
    let dir = std::env::temp_dir().join(format!(
        "eeops-openapi-{}-{}",
        std::process::id(),
        docs.iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join("-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, doc) in docs {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        files.push(file.display().to_string());
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/openapi_validate.py"
    );
    let output = Command::new(&python)
        .arg(script)
        .args(&files)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) && std::env::var_os("CI").is_none() {
        eprintln!("SKIPPED: {}", stderr.trim());
        return;
    }
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "openapi-spec-validator refused a document ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn documents_pass_openapi_spec_validator() {
    validate_with_python(&[("eeops", &eeops_doc()), ("features", &features_doc())]);
}

/// The validator must catch a broken document, or the test above proves nothing.
#[test]
fn openapi_spec_validator_catches_a_broken_document() {
    let Ok(python) = std::env::var("EEOPS_PYTHON") else {
        eprintln!("SKIPPED: EEOPS_PYTHON is not set");
        return;
    };
    let mut doc = features_doc();
    // A path parameter that the path does not declare.
    doc["paths"]["/v1/check:all"]["post"]["parameters"] =
        json!([{"name": "ghost", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let file =
        std::env::temp_dir().join(format!("eeops-openapi-broken-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/openapi_validate.py"
    );
    let output = Command::new(&python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).ok();
    if output.status.code() == Some(3) {
        eprintln!("SKIPPED: openapi-spec-validator is not installed");
        return;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ghost"), "{stdout}");
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

    validate_with_python(&[("served", &served)]);
    fx.handle.shutdown().await;
}
