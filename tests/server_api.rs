//! Every Operations method over gRPC and over REST on the same port, the REST error paths,
//! gRPC reflection and the discovery document, against the emulator on a real socket.

mod server_support;

use std::time::Duration;

use eeops::pb::google::earthengine::v1::OperationMetadata;
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    WaitOperationRequest, operation,
};
use eeops::server::emulator::{EmulatorConfig, TaskOutcome, TaskSpec};
use prost::Message as _;
use server_support::{Fixture, error_of};

fn meta_of(op: &eeops::pb::google::longrunning::Operation) -> OperationMetadata {
    let any = op.metadata.as_ref().expect("metadata");
    assert_eq!(any.type_url, eeops::pb::EE_METADATA_TYPE_URL);
    OperationMetadata::decode(any.value.as_slice()).unwrap()
}

#[tokio::test]
async fn grpc_every_method() {
    let fx = Fixture::manual().await;
    let a = fx
        .emu
        .start_task("p", TaskSpec::default().with_start_running(true));
    let b = fx
        .emu
        .start_task("p", TaskSpec::default().with_work(Duration::from_secs(1)));
    fx.emu.start_task("other", TaskSpec::default());
    let mut grpc = fx.grpc().await;

    let op = grpc
        .get_operation(GetOperationRequest { name: a.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(op.name, a);
    assert!(!op.done);
    assert_eq!(meta_of(&op).state, State::Running as i32);

    let list = grpc
        .list_operations(ListOperationsRequest {
            name: "projects/p".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.operations.len(), 2, "only project p");
    assert_eq!(list.operations[0].name, b, "newest first");

    grpc.cancel_operation(CancelOperationRequest { name: a.clone() })
        .await
        .unwrap();
    let op = fx.emu.operation(&a).unwrap();
    assert_eq!(meta_of(&op).state, State::Cancelling as i32);
    assert!(!op.done);
    fx.emu.advance(Duration::from_secs(1));
    let op = grpc
        .get_operation(GetOperationRequest { name: a.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(op.done);
    match op.result {
        Some(operation::Result::Error(ref e)) => assert_eq!(e.code, 1),
        other => panic!("expected a CANCELLED error, got {other:?}"),
    }
    assert_eq!(meta_of(&op).state, State::Cancelled as i32);

    // Wait on b while the clock moves.
    let emu = fx.emu.clone();
    let mover = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu.advance(Duration::from_secs(5));
    });
    let op = grpc
        .wait_operation(WaitOperationRequest {
            name: b.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 10,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    mover.await.unwrap();
    assert!(op.done);
    assert!(matches!(op.result, Some(operation::Result::Response(_))));

    grpc.delete_operation(DeleteOperationRequest { name: a.clone() })
        .await
        .unwrap();
    let err = grpc
        .get_operation(GetOperationRequest { name: a.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(fx.emu.effects(&a).deletes_applied, 1);
    assert_eq!(fx.emu.effects(&a).cancels_applied, 1);

    let err = grpc
        .cancel_operation(CancelOperationRequest {
            name: "projects/p/operations/NOPE".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let err = grpc
        .get_operation(GetOperationRequest {
            name: "not-a-name".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn rest_every_method_and_version() {
    let fx = Fixture::manual().await;
    fx.emu.start_task("p", TaskSpec::default());
    for v in ["v1", "v1beta", "v1alpha"] {
        let a = fx
            .emu
            .start_task("p", TaskSpec::default().with_start_running(true));
        let (status, op) = fx.get(&format!("/{v}/{a}")).await;
        assert_eq!(status, 200, "{op}");
        assert_eq!(op["name"], a.as_str());
        assert_eq!(
            op["metadata"]["@type"],
            "type.googleapis.com/google.earthengine.v1.OperationMetadata"
        );
        assert_eq!(op["metadata"]["state"], "RUNNING");
        assert_eq!(op["metadata"]["type"], "EXPORT_IMAGE");
        let created = op["metadata"]["createTime"].as_str().unwrap();
        assert!(created.ends_with('Z'), "{created}");
        let frac = created.split('.').nth(1).map_or(0, |f| f.len() - 1);
        assert!([0, 3, 6].contains(&frac), "{created}");

        let (status, list) = fx
            .get(&format!("/{v}/projects/p/operations?pageSize=1"))
            .await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["operations"].as_array().unwrap().len(), 1);
        assert!(list["nextPageToken"].is_string());

        // Cancel with `{}` (earthengine-api) and with an empty body (api-core).
        let (status, body) = fx.post(&format!("/{v}/{a}:cancel"), "{}").await;
        assert_eq!(
            (status, body.clone()),
            (200, serde_json::json!({})),
            "{body}"
        );
        let (status, _) = fx
            .rest(fx.http.post(fx.url(&format!("/{v}/{a}:cancel"))))
            .await;
        assert_eq!(status, 200);
        fx.emu.advance(Duration::from_secs(1));

        let (status, op) = fx
            .post(&format!("/{v}/{a}:wait"), r#"{"timeout":"3.5s"}"#)
            .await;
        assert_eq!(status, 200, "{op}");
        assert_eq!(op["done"], true);
        assert_eq!(op["error"]["code"], 1);
        assert_eq!(op["metadata"]["state"], "CANCELLED");

        let (status, body) = fx.rest(fx.http.delete(fx.url(&format!("/{v}/{a}")))).await;
        assert_eq!((status, body), (200, serde_json::json!({})));
        let (status, body) = fx.get(&format!("/{v}/{a}")).await;
        assert_eq!(status, 404);
        assert_eq!(error_of(&body), (404, "NOT_FOUND".to_owned()));
    }

    // The generic binding of the proto: /v1/{name=operations}.
    let (status, list) = fx.get("/v1/operations").await;
    assert_eq!(status, 200, "{list}");
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn rest_accepts_what_google_clients_send() {
    let fx = Fixture::manual().await;
    let a = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_outcome(TaskOutcome::Fail)
            .with_work(Duration::from_secs(1)),
    );
    fx.emu.advance(Duration::from_secs(5));
    let path = format!("/v1/{a}");

    // api-core: JSON content-type on GET; JS client: form content-type on GET, no body.
    for ct in ["application/json", "application/x-www-form-urlencoded"] {
        let (status, op) = fx
            .rest(fx.http.get(fx.url(&path)).header("content-type", ct))
            .await;
        assert_eq!(status, 200, "{ct}: {op}");
        assert_eq!(op["metadata"]["state"], "FAILED");
        assert_eq!(op["error"]["code"], 13);
    }
    let tolerated = "alt=json&%24alt=json%3Benum-encoding%3Dint&prettyPrint=false&key=abc&%24.xgafv=2\
        &fields=name&quotaUser=u&access_token=t&callback=c&uploadType=x&upload_protocol=y";
    let (status, op) = fx.get(&format!("{path}?{tolerated}")).await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["metadata"]["state"], 6, "enum-encoding=int");

    let resp = fx
        .http
        .get(fx.url(&format!("{path}?prettyPrint=true")))
        .send()
        .await
        .unwrap();
    assert!(
        resp.text().await.unwrap().contains("\n  \""),
        "pretty-printed"
    );

    // Filter, page size and token over REST.
    let (status, list) = fx
        .get("/v1/projects/p/operations?filter=metadata.state%20%3D%20FAILED%20AND%20done%20%3D%20true&pageSize=5")
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["operations"].as_array().unwrap().len(), 1);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn rest_error_paths() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_cancel_unsupported(true),
    )
    .await;
    let a = fx.emu.start_task("p", TaskSpec::default());
    let op = format!("/v1/{a}");

    let (status, body) = fx.get(&format!("{op}?bogus=1")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body).1, "INVALID_ARGUMENT");
    assert!(body["error"]["message"].as_str().unwrap().contains("bogus"));

    let (status, body) = fx.get(&format!("{op}?alt=proto")).await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT")
    );

    let (status, body) = fx.post(&format!("{op}:wait"), "{not json").await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );

    let (status, body) = fx.post(&format!("{op}:wait"), r#"{"timeout": 5}"#).await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );

    let (status, body) = fx
        .post(&format!("{op}:wait"), r#"{"unknownField": 1}"#)
        .await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );

    let (status, body) = fx
        .rest(
            fx.http
                .post(fx.url(&format!("{op}:wait")))
                .header("content-type", "text/plain")
                .body(r#"{"timeout":"1s"}"#),
        )
        .await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("content-type")
    );

    let big = format!(
        r#"{{"timeout":"1s","x":"{}"}}"#,
        "a".repeat(1024 * 1024 + 10)
    );
    let (status, body) = fx.post(&format!("{op}:wait"), &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_of(&body).0, 413);

    let (status, body) = fx.get("/v2/nothing/here").await;
    assert_eq!((status, error_of(&body).1.as_str()), (404, "NOT_FOUND"));

    let resp = fx.http.put(fx.url(&op)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert!(resp.headers().get("allow").is_some());
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(error_of(&body).0, 405);

    let (status, body) = fx.get("/v1/projects/p/operations/NOPE").await;
    assert_eq!((status, error_of(&body).1.as_str()), (404, "NOT_FOUND"));

    let (status, body) = fx.post(&format!("{op}:cancel"), "{}").await;
    assert_eq!((status, error_of(&body).1.as_str()), (501, "UNIMPLEMENTED"));
    let mut grpc = fx.grpc().await;
    let err = grpc
        .cancel_operation(CancelOperationRequest { name: a.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    // Partial success is not supported: UNIMPLEMENTED (501), as the operations proto says.
    let (status, body) = fx
        .get("/v1/projects/p/operations?returnPartialSuccess=true")
        .await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (501, "UNIMPLEMENTED"),
        "{body}"
    );
    let (status, body) = fx
        .get("/v1/projects/p/operations?returnPartialSuccess=false")
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = fx
        .get("/v1/projects/p/operations?filter=metadata.progress%20%3E%200")
        .await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metadata.state")
    );

    let (status, body) = fx.get("/v1/projects/p/operations?pageToken=forged").await;
    assert_eq!(
        (status, error_of(&body).1.as_str()),
        (400, "INVALID_ARGUMENT")
    );

    // Nothing here took the server down.
    let (status, _) = fx.get(&op).await;
    assert_eq!(status, 200);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn http2_prior_knowledge_rest() {
    let fx = Fixture::manual().await;
    let a = fx.emu.start_task("p", TaskSpec::default());
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2.get(fx.url(&format!("/v1/{a}"))).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn discovery_document() {
    let fx = Fixture::manual().await;
    for v in ["v1", "v1beta", "v1alpha"] {
        let (status, doc) = fx
            .get(&format!("/$discovery/rest?version={v}&prettyPrint=false"))
            .await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["rootUrl"], format!("http://{}/", fx.addr()));
        let m = &doc["resources"]["projects"]["resources"]["operations"]["methods"];
        assert_eq!(m["cancel"]["path"], format!("{v}/{{+name}}:cancel"));
        assert_eq!(m["list"]["path"], format!("{v}/{{+name}}/operations"));
        assert_eq!(m["get"]["httpMethod"], "GET");
        assert_eq!(m["wait"]["request"]["$ref"], "WaitOperationRequest");
    }
    let (status, _) = fx.get("/$discovery/rest?version=v9").await;
    assert_eq!(status, 404);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn grpc_reflection_v1_and_v1alpha() {
    use tokio_stream::StreamExt as _;
    let fx = Fixture::manual().await;

    {
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(fx.channel().await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::once(req))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected {resp:?}");
        };
        let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names.contains(&"google.longrunning.Operations"),
            "{names:?}"
        );
    }
    {
        use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(fx.channel().await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "google.earthengine.v1.OperationMetadata".into(),
            )),
        };
        let mut stream = client
            .server_reflection_info(tokio_stream::once(req))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(files)) = resp.message_response else {
            panic!("unexpected {resp:?}");
        };
        assert!(!files.file_descriptor_proto.is_empty());
    }
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn oneshot_router_and_unknown_grpc_method() {
    use tower::ServiceExt as _;
    let emu =
        eeops::server::emulator::Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    let app = eeops::server::router(emu);
    let resp = app
        .clone()
        .oneshot(
            http::Request::post("/google.longrunning.Operations/NoSuchMethod")
                .header("content-type", "application/grpc")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.headers().get("grpc-status").unwrap(), "12");
    let resp = app
        .oneshot(
            http::Request::get("/v1/projects/p/operations")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
