//! The emulator hosts `operations/{id}` names (the proto's generic bindings) beside Earth
//! Engine's, over REST and gRPC, for clients that only know the generic form.

mod server_support;

use std::time::Duration;

use eeops::pb::google::longrunning::{CancelOperationRequest, GetOperationRequest};
use eeops::server::emulator::TaskSpec;
use server_support::{Fixture, error_of};

#[tokio::test]
async fn generic_names_over_rest_and_grpc() {
    let fx = Fixture::manual().await;
    let a = fx.emu.start_generic_task(
        TaskSpec::default()
            .with_id("GENA")
            .with_work(Duration::from_secs(3600)),
    );
    let b = fx.emu.start_generic_task(
        TaskSpec::default()
            .with_id("GENB")
            .with_work(Duration::from_secs(3600)),
    );
    let ee = fx.emu.start_task("p", TaskSpec::default());
    assert_eq!(a, "operations/GENA");

    // REST, through the generic binding.
    let (status, op) = fx.get("/v1/operations/GENA").await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["name"], "operations/GENA");
    assert_eq!(op["done"], serde_json::Value::Null);
    let (status, body) = fx.post("/v1/operations/GENA:cancel", "{}").await;
    assert_eq!(status, 200, "{body}");
    fx.emu.advance(Duration::from_secs(60));
    let op = fx.emu.operation(&a).unwrap();
    assert!(op.done);
    assert_eq!(fx.emu.effects(&a).cancels_applied, 1);

    // gRPC.
    let mut grpc = fx.grpc().await;
    grpc.cancel_operation(CancelOperationRequest { name: b.clone() })
        .await
        .unwrap();
    fx.emu.advance(Duration::from_secs(60));
    let op = grpc
        .get_operation(GetOperationRequest { name: b.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(op.done);
    assert!(matches!(
        op.result,
        Some(eeops::pb::google::longrunning::operation::Result::Error(ref s)) if s.code == 1
    ));

    // Unknown generic names are NOT_FOUND; malformed ones are still refused.
    let (status, body) = fx.get("/v1/operations/NOPE").await;
    assert_eq!((status, error_of(&body).1.as_str()), (404, "NOT_FOUND"));
    let err = grpc
        .get_operation(GetOperationRequest {
            name: "operations/a//b".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // Generic tasks belong to no project: only a list of every project shows them.
    let (status, list) = fx.get("/v1/projects/p/operations").await;
    assert_eq!(status, 200);
    assert_eq!(list["operations"].as_array().unwrap().len(), 1);
    assert_eq!(list["operations"][0]["name"], ee.as_str());
    let (status, list) = fx.get("/v1/operations").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["operations"].as_array().unwrap().len(), 3);
    fx.handle.shutdown().await;
}
