//! Every `google.api.HttpRule` feature through the transcoding runtime, for a service of
//! eeops' own (`tests/protos/transcode_features.proto`, compiled here with protox): `body: "*"`,
//! `body: "field"`, no body, nested path variables, additional bindings, `response_body`,
//! custom verbs, `custom` methods, and query parameters of every kind (nested messages,
//! repeated fields, enums by name and number, wrappers, Timestamp/Duration/FieldMask, bytes in
//! both base64 alphabets, optional and oneof fields). Each request is encoded as a client
//! would, routed and decoded as a server would, and must come back equal.

use std::sync::OnceLock;

use eeops::transcode::{
    CompiledBinding, HttpBinding, Router, decode_request, decode_response, encode_request,
    encode_response,
};
use proptest::prelude::*;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};
use serde_json::json;

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let files = protox::compile(["transcode_features.proto"], ["tests/protos"])
            .unwrap_or_else(|e| panic!("{e}"));
        DescriptorPool::from_file_descriptor_set(files).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn desc(name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(&format!("eeops.test.transcode.{name}"))
        .unwrap_or_else(|| panic!("no message {name}"))
}

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

static BINDINGS: &[HttpBinding] = &[
    rule("ListBooks", "GET", "/v1/{parent=shelves/*}/books", "", ""),
    // An additional binding of the same method.
    rule(
        "ListBooks",
        "GET",
        "/v1/{parent=authors/*/shelves/*}/books",
        "",
        "",
    ),
    rule(
        "ListBooksBare",
        "GET",
        "/v1/{parent=shelves/*}/books:bare",
        "",
        "books",
    ),
    rule("GetBook", "GET", "/v1/{name=shelves/*/books/*}", "", ""),
    rule(
        "CreateBook",
        "POST",
        "/v1/{parent=shelves/*}/books",
        "book",
        "",
    ),
    rule(
        "UpdateBook",
        "PATCH",
        "/v1/{book.name=shelves/*/books/*}",
        "book",
        "",
    ),
    rule(
        "MoveBook",
        "POST",
        "/v1/{name=shelves/*/books/*}:move",
        "*",
        "",
    ),
    // A `custom` pattern: its kind is the HTTP method.
    rule(
        "Check",
        "CHECK",
        "/v1/shelves/{shelf_id}/genres/{genre}/keys/{key}:check",
        "",
        "book",
    ),
    rule("CheckAll", "POST", "/v1/check:all", "*", "problems"),
];

fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| Router::new(BINDINGS).unwrap_or_else(|e| panic!("{e}")))
}

fn binding(index: usize) -> &'static CompiledBinding {
    &router().bindings()[index]
}

fn message(name: &str, value: serde_json::Value) -> DynamicMessage {
    DynamicMessage::deserialize(desc(name), value.clone())
        .unwrap_or_else(|e| panic!("{name} {value}: {e}"))
}

fn to_json(m: &DynamicMessage) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or_else(|e| panic!("{e}"))
}

/// The proto3 JSON of a message without empty sub-messages: a query string cannot say that
/// an empty message is present (nor need it), so the comparison of a round trip ignores
/// that, and what explicitly set default scalars there are (proto3 JSON leaves them out).
fn canonical(m: &DynamicMessage) -> serde_json::Value {
    fn prune(v: serde_json::Value) -> Option<serde_json::Value> {
        match v {
            serde_json::Value::Object(o) => {
                let kept: serde_json::Map<_, _> = o
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, prune(v)?)))
                    .collect();
                (!kept.is_empty()).then_some(serde_json::Value::Object(kept))
            }
            other => Some(other),
        }
    }
    prune(to_json(m)).unwrap_or_else(|| json!({}))
}

/// Encodes `msg` on binding `index` as a client does, then routes and decodes it as a server
/// does: the message that arrives.
fn round_trip(
    index: usize,
    msg: &DynamicMessage,
) -> (String, Option<serde_json::Value>, DynamicMessage) {
    let b = binding(index);
    let parts = encode_request(b, msg).unwrap_or_else(|e| panic!("{}: {e}", b.template()));
    let full = parts.path_and_query();
    let body = parts.body.as_ref().map(to_json);
    let (path, query) = match full.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (full.as_str(), None),
    };
    let route = router()
        .route(parts.method.as_str(), path)
        .unwrap_or_else(|e| panic!("{full}: {e}"));
    assert_eq!(route.binding, b.binding(), "{full} routed elsewhere");
    let bytes = body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    let back = decode_request(&route, &msg.descriptor(), query, bytes.as_bytes(), &[])
        .unwrap_or_else(|e| panic!("{full} {bytes}: {e}"));
    (full, body, back)
}

/// (binding index, request message, request JSON, path and query, body JSON)
type Case = (
    usize,
    &'static str,
    serde_json::Value,
    &'static str,
    Option<serde_json::Value>,
);

#[test]
fn every_rule_feature_round_trips() {
    let cases: Vec<Case> = vec![
        // No body: every field not in the path is a query parameter, nested ones dotted.
        (
            0,
            "ListBooksRequest",
            json!({"parent": "shelves/s 1", "pageSize": 5, "filter": {
                "genre": "HISTORY", "genres": ["FICTION", "HISTORY"], "ids": ["1", "-9007199254740993"],
                "minPages": 0, "inPrint": false, "publisher": "A & B", "token": "+/8=",
                "rating": 4.5, "maxCopies": "18446744073709551615",
                "after": "2024-02-29T23:59:59.123456789Z", "maxAge": "-1.5s",
                "readMask": "title,author.displayName", "raw": "AQID+/8=",
                "nested": {"deeper": {"level": 3, "notes": ["x", "y z"]}, "label": "é"},
                "limit": 0, "score": 0.25, "small": 4_294_967_295u32, "signed": "-7", "fixed": "7",
                "flag": true, "stamps": ["1970-01-01T00:00:00Z", "2000-01-01T00:00:00.500Z"],
                "weights": [1.5, "Infinity", "-Infinity", 0], "big": "-5", "count": 3,
                "ratio": 0.5, "pickNumber": 0}}),
            "/v1/shelves/s%201/books?pageSize=5&filter.genre=HISTORY&filter.genres=FICTION\
             &filter.genres=HISTORY&filter.ids=1&filter.ids=-9007199254740993&filter.minPages=0\
             &filter.inPrint=false&filter.publisher=A%20%26%20B&filter.token=%2B%2F8%3D\
             &filter.rating=4.5&filter.maxCopies=18446744073709551615\
             &filter.after=2024-02-29T23%3A59%3A59.123456789Z&filter.maxAge=-1.500s\
             &filter.readMask=title%2Cauthor.displayName&filter.raw=AQID%2B%2F8%3D\
             &filter.nested.deeper.level=3&filter.nested.deeper.notes=x\
             &filter.nested.deeper.notes=y%20z&filter.nested.label=%C3%A9&filter.limit=0\
             &filter.score=0.25&filter.small=4294967295&filter.signed=-7&filter.fixed=7\
             &filter.flag=true&filter.stamps=1970-01-01T00%3A00%3A00Z\
             &filter.stamps=2000-01-01T00%3A00%3A00.500Z&filter.weights=1.5\
             &filter.weights=Infinity&filter.weights=-Infinity&filter.weights=0&filter.big=-5\
             &filter.count=3&filter.ratio=0.5&filter.pickNumber=0",
            None,
        ),
        // The additional binding of the same method.
        (
            1,
            "ListBooksRequest",
            json!({"parent": "authors/a/shelves/b", "pageToken": "t"}),
            "/v1/authors/a/shelves/b/books?pageToken=t",
            None,
        ),
        // A nested field of the request in the path.
        (
            3,
            "GetBookRequest",
            json!({"name": "shelves/1/books/x:y", "readMask": "title"}),
            "/v1/shelves/1/books/x%3Ay?readMask=title",
            None,
        ),
        // `body: "book"`: that field is the body, the rest goes in the query.
        (
            4,
            "CreateBookRequest",
            json!({"parent": "shelves/1", "requestId": "r-1", "book": {
                "title": "T", "author": {"displayName": "D", "genre": "FICTION"},
                "tags": ["a"], "publishTime": "2020-01-01T00:00:00Z", "cover": "AAE=",
                "labels": {"k": "v"}}}),
            "/v1/shelves/1/books?requestId=r-1",
            Some(
                json!({"title": "T", "author": {"displayName": "D", "genre": "FICTION"},
                        "tags": ["a"], "publishTime": "2020-01-01T00:00:00Z", "cover": "AAE=",
                        "labels": {"k": "v"}}),
            ),
        ),
        // A nested path variable inside the body field.
        (
            5,
            "UpdateBookRequest",
            json!({"book": {"name": "shelves/1/books/2", "title": "New"},
                   "updateMask": "title,author.displayName"}),
            "/v1/shelves/1/books/2?updateMask=title%2Cauthor.displayName",
            Some(json!({"name": "shelves/1/books/2", "title": "New"})),
        ),
        // `body: "*"` with a custom verb: every field not in the path is in the body.
        (
            6,
            "MoveBookRequest",
            json!({"name": "shelves/1/books/2", "otherShelfName": "shelves/9",
                   "deadline": "2s", "reasons": ["full", "damp"]}),
            "/v1/shelves/1/books/2:move",
            Some(json!({"otherShelfName": "shelves/9", "deadline": "2s",
                        "reasons": ["full", "damp"]})),
        ),
        // A `custom` method, with an int64, an enum and a bytes path variable.
        (
            7,
            "CheckRequest",
            json!({"shelfId": "-42", "genre": "HISTORY", "key": "+/8=", "strict": true}),
            "/v1/shelves/-42/genres/HISTORY/keys/%2B%2F8%3D:check?strict=true",
            None,
        ),
    ];
    for (index, name, input, path_and_query, body) in cases {
        let msg = message(name, input.clone());
        let (full, sent, back) = round_trip(index, &msg);
        assert_eq!(full, path_and_query, "{input}");
        assert_eq!(sent, body, "{input}");
        assert_eq!(canonical(&back), canonical(&msg), "{full}");
    }
}

/// What a server accepts beyond what eeops' client sends: enums by number, bytes in the
/// URL-safe alphabet and unpadded, proto field names, repeated keys for repeated fields.
#[test]
fn server_accepts_every_spelling() {
    let route = router().route("GET", "/v1/shelves/s/books").unwrap();
    let desc = desc("ListBooksRequest");
    let decode = |query: &str| {
        decode_request(&route, &desc, Some(query), b"", &[])
            .map(|m| to_json(&m)["filter"].clone())
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    };
    let cases: &[(&str, serde_json::Value)] = &[
        ("filter.genre=2", json!({"genre": "HISTORY"})),
        (
            "filter.genres=1&filter.genres=HISTORY",
            json!({"genres": ["FICTION", "HISTORY"]}),
        ),
        ("filter.raw=-_8", json!({"raw": "+/8="})),
        ("filter.raw=%2B%2F8%3D", json!({"raw": "+/8="})),
        ("filter.token=-_8", json!({"token": "+/8="})),
        (
            "filter.min_pages=3&filter.in_print=true",
            json!({"minPages": 3, "inPrint": true}),
        ),
        (
            "filter.nested.deeper.level=-1",
            json!({"nested": {"deeper": {"level": -1}}}),
        ),
        (
            "filter.max_age=3.000000001s",
            json!({"maxAge": "3.000000001s"}),
        ),
        ("filter.read_mask=a.bC,d", json!({"readMask": "a.bC,d"})),
        ("filter.pick_name=n", json!({"pickName": "n"})),
        ("filter.weights=NaN", json!({"weights": ["NaN"]})),
    ];
    for (query, want) in cases {
        assert_eq!(&decode(query), want, "{query}");
    }
    // Refused, with the parameter named.
    for (query, text) in [
        ("filter.genre=SCIENCE", "filter.genre"),
        ("filter.raw=***", "filter.raw"),
        ("filter.after=yesterday", "filter.after"),
        ("filter.nested=x", "filter.nested"),
        ("filter.stamps.seconds=1", "filter.stamps.seconds"),
        ("filter.minPages=1&filter.min_pages=2", "filter.min_pages"),
    ] {
        let err = decode_request(&route, &desc, Some(query), b"", &[]).unwrap_err();
        assert!(err.is_invalid_argument(), "{query}: {err}");
        assert!(err.to_string().contains(text), "{query}: {err}");
    }
    // A map cannot travel in a query: refused on the client side, not silently dropped.
    let msg = message(
        "CreateBookRequest",
        json!({"parent": "shelves/1", "book": {"labels": {"k": "v"}}}),
    );
    let err = encode_request(&compiled_get_with_map(), &msg).unwrap_err();
    assert!(err.to_string().contains("map"), "{err}");
}

/// A binding that puts `CreateBookRequest` (whose book has a map) entirely in the query.
fn compiled_get_with_map() -> CompiledBinding {
    static GET: HttpBinding = rule(
        "CreateBookGet",
        "GET",
        "/v1/{parent=shelves/*}/books:get",
        "",
        "",
    );
    CompiledBinding::new(&GET).unwrap()
}

#[test]
fn response_body_selects_a_field() {
    let list = message(
        "ListBooksResponse",
        json!({"books": [{"name": "shelves/1/books/1", "title": "A"}], "nextPageToken": "n"}),
    );
    let check = message(
        "CheckResponse",
        json!({"ok": true, "book": {"title": "B"}, "problems": ["p1", "p2"]}),
    );
    let ser = SerializeOptions::new();
    let de = DeserializeOptions::new();
    // (binding, message, JSON on the wire, message the client gets back)
    let cases = [
        (0, &list, to_json(&list), list.clone()),
        (
            2,
            &list,
            json!([{"name": "shelves/1/books/1", "title": "A"}]),
            message(
                "ListBooksResponse",
                json!({"books": [{"name": "shelves/1/books/1", "title": "A"}]}),
            ),
        ),
        (
            7,
            &check,
            json!({"title": "B"}),
            message("CheckResponse", json!({"book": {"title": "B"}})),
        ),
        (
            8,
            &check,
            json!(["p1", "p2"]),
            message("CheckResponse", json!({"problems": ["p1", "p2"]})),
        ),
    ];
    for (index, msg, wire, back) in cases {
        let b = binding(index).binding();
        let sent = encode_response(b, msg, &ser).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sent, wire, "{}", b.template);
        let got =
            decode_response(b, &msg.descriptor(), sent, &de).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, back, "{}", b.template);
    }
    // Unset fields send their defaults.
    let empty = message("CheckResponse", json!({}));
    assert_eq!(
        encode_response(binding(7).binding(), &empty, &ser).unwrap(),
        json!({})
    );
    assert_eq!(
        encode_response(binding(8).binding(), &empty, &ser).unwrap(),
        json!([])
    );
    static OK: HttpBinding = rule("Ok", "GET", "/v1/ok", "", "ok");
    assert_eq!(encode_response(&OK, &empty, &ser).unwrap(), json!(false));
    assert_eq!(
        decode_response(&OK, &empty.descriptor(), json!(true), &de).unwrap(),
        message("CheckResponse", json!({"ok": true}))
    );
    // A response_body that names no field is the binding's fault.
    static BAD: HttpBinding = rule("Bad", "GET", "/v1/bad", "", "nope");
    let err = encode_response(&BAD, &empty, &ser).unwrap_err();
    assert!(
        !err.is_invalid_argument() && err.to_string().contains("nope"),
        "{err}"
    );
    // A body of the wrong shape is the peer's.
    let err = decode_response(
        binding(8).binding(),
        &empty.descriptor(),
        json!({"x": 1}),
        &de,
    )
    .unwrap_err();
    assert!(err.is_invalid_argument(), "{err}");
}

fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn segment() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("one segment", |s| {
        !s.is_empty() && !s.contains('/') && s != "." && s != ".."
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary query values of many kinds survive encode, route and decode.
    #[test]
    fn list_requests_round_trip(
        shelf in segment(),
        page_size in any::<i32>(),
        page_token in text(),
        genre in 0i32..3,
        genres in prop::collection::vec(0i32..3, 0..3),
        ids in prop::collection::vec(any::<i64>(), 0..3),
        publisher in prop::option::of(text()),
        raw in prop::collection::vec(any::<u8>(), 0..12),
        rating in prop::option::of(any::<f64>().prop_filter("not NaN", |x| !x.is_nan())),
        score in any::<f32>().prop_filter("not NaN", |x| !x.is_nan()),
        notes in prop::collection::vec(text(), 0..3),
        limit in prop::option::of(any::<i32>()),
        seconds in -315_576_000_000i64..315_576_000_000,
        nanos in 0i32..1_000_000_000,
    ) {
        let mut filter = message("Filter", json!({
            "genre": genre,
            "genres": genres,
            "ids": ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            "score": if score.is_finite() { json!(score) } else { json!(score.to_string().replace("inf", "Infinity")) },
            "nested": {"deeper": {"notes": notes}},
            "maxAge": format!("{}{}.{:09}s", if seconds < 0 { "-" } else { "" }, seconds.unsigned_abs(), if seconds == 0 { 0 } else { nanos }),
        }));
        filter.set_field_by_name("raw", Value::Bytes(raw.into()));
        if let Some(p) = publisher {
            let wrapper = message("Filter", json!({"publisher": p}));
            filter.set_field_by_name("publisher", wrapper.get_field_by_name("publisher").unwrap().into_owned());
        }
        if let Some(r) = rating {
            let v = if r.is_finite() { json!(r) } else { json!(if r > 0.0 { "Infinity" } else { "-Infinity" }) };
            let wrapper = message("Filter", json!({"rating": v}));
            filter.set_field_by_name("rating", wrapper.get_field_by_name("rating").unwrap().into_owned());
        }
        if let Some(l) = limit {
            filter.set_field_by_name("limit", Value::I32(l));
        }
        let mut msg = message("ListBooksRequest", json!({"parent": format!("shelves/{shelf}"), "pageSize": page_size, "pageToken": page_token}));
        msg.set_field_by_name("filter", Value::Message(filter));
        let (full, body, back) = round_trip(0, &msg);
        prop_assert!(body.is_none());
        prop_assert_eq!(canonical(&back), canonical(&msg), "{}", full);
    }
}
