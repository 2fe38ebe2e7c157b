//! Emulator semantics over real sockets: the cancel/complete race, pagination under inserts,
//! wait, injected faults and their effect counters, seeds, the real-time clock.

mod server_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use eeops::pb::google::earthengine::v1::OperationMetadata;
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    Operation, WaitOperationRequest, operation,
};
use eeops::server::emulator::{EmulatorConfig, TaskSpec};
use futures::StreamExt as _;
use prost::Message as _;
use server_support::Fixture;

fn meta_of(op: &Operation) -> OperationMetadata {
    OperationMetadata::decode(op.metadata.as_ref().unwrap().value.as_slice()).unwrap()
}

/// Exactly one terminal state, with error, response and metadata agreeing.
fn assert_terminal(op: &Operation, effects: eeops::server::emulator::EffectCounts) -> State {
    assert!(op.done, "{} not done", op.name);
    let meta = meta_of(op);
    assert_eq!(effects.completions, 1, "{}: {effects:?}", op.name);
    assert!(effects.cancels_applied <= 1, "{}: {effects:?}", op.name);
    match &op.result {
        Some(operation::Result::Error(e)) => {
            assert_eq!(e.code, 1, "{}", op.name);
            assert_eq!(meta.state, State::Cancelled as i32, "{}", op.name);
            assert_eq!(effects.cancels_applied, 1);
            State::Cancelled
        }
        Some(operation::Result::Response(r)) => {
            assert_eq!(r.type_url, "type.googleapis.com/google.protobuf.Empty");
            assert_eq!(meta.state, State::Succeeded as i32, "{}", op.name);
            assert_eq!(meta.progress, 1.0);
            State::Succeeded
        }
        None => panic!("{} done without a result", op.name),
    }
}

async fn race_round(config: EmulatorConfig, ops: usize) -> (usize, usize) {
    let fx = Fixture::start(config.with_manual_clock(true)).await;
    let names: Vec<String> = (0..ops)
        .map(|i| {
            fx.emu.start_task(
                "race",
                TaskSpec::default()
                    .with_start_running(true)
                    .with_work(Duration::from_millis(200 + (i as u64 % 7) * 10)),
            )
        })
        .collect();
    let grpc = fx.grpc().await;

    // The clock moves in small steps while 64 cancels at a time go out, half over gRPC and
    // half over REST.
    let emu = fx.emu.clone();
    let clock = tokio::spawn(async move {
        for _ in 0..60 {
            emu.advance(Duration::from_millis(5));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let fx_ref = &fx;
    futures::stream::iter(names.iter().enumerate())
        .for_each_concurrent(64, |(i, name)| {
            let mut grpc = grpc.clone();
            async move {
                if i % 2 == 0 {
                    grpc.cancel_operation(CancelOperationRequest { name: name.clone() })
                        .await
                        .unwrap();
                } else {
                    let (status, body) = fx_ref.post(&format!("/v1/{name}:cancel"), "{}").await;
                    assert_eq!(status, 200, "{body}");
                }
            }
        })
        .await;
    clock.await.unwrap();
    fx.emu.advance(Duration::from_secs(10));

    let (mut cancelled, mut succeeded) = (0, 0);
    for name in &names {
        let op = fx.emu.operation(name).unwrap();
        match assert_terminal(&op, fx.emu.effects(name)) {
            State::Cancelled => cancelled += 1,
            _ => succeeded += 1,
        }
        // A cancel after the end changes nothing.
        let mut g = grpc.clone();
        g.cancel_operation(CancelOperationRequest { name: name.clone() })
            .await
            .unwrap();
        assert_eq!(fx.emu.operation(name).unwrap(), op);
    }
    fx.handle.shutdown().await;
    (cancelled, succeeded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_racing_completion_ends_in_one_terminal_state() {
    let (c, s) = race_round(
        EmulatorConfig::default().with_cancel_delay(Duration::ZERO),
        200,
    )
    .await;
    assert_eq!(c + s, 200);
    let (c2, s2) = race_round(
        EmulatorConfig::default().with_cancel_delay(Duration::from_millis(20)),
        200,
    )
    .await;
    assert_eq!(c2 + s2, 200);
    let (c3, s3) = race_round(
        EmulatorConfig::default()
            .with_cancel_delay(Duration::from_millis(5))
            .with_complete_despite_cancel(0.5),
        200,
    )
    .await;
    assert_eq!(c3 + s3, 200);
    assert!(s3 > 0, "some cancels were ignored");
    println!("race rounds (cancelled, succeeded): ({c}, {s}) ({c2}, {s2}) ({c3}, {s3})");
}

#[tokio::test]
async fn pagination_survives_inserts() {
    let fx = Fixture::manual().await;
    let mut originals = HashSet::new();
    for i in 0..1000 {
        originals.insert(fx.emu.start_task("p", TaskSpec::default()));
        if i % 10 == 0 {
            fx.emu.start_task("q", TaskSpec::default());
        }
    }
    let mut grpc = fx.grpc().await;
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        // Alternate transports; insert between pages.
        let (names, next) = if pages % 2 == 0 {
            let list = grpc
                .list_operations(ListOperationsRequest {
                    name: "projects/p".into(),
                    page_size: 37,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            (
                list.operations
                    .into_iter()
                    .map(|o| o.name)
                    .collect::<Vec<_>>(),
                list.next_page_token,
            )
        } else {
            let (status, list) = fx
                .get(&format!(
                    "/v1/projects/p/operations?pageSize=37&pageToken={token}"
                ))
                .await;
            assert_eq!(status, 200, "{list}");
            (
                list["operations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o["name"].as_str().unwrap().to_owned())
                    .collect(),
                list["nextPageToken"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        assert!(names.len() <= 37);
        seen.extend(names);
        for _ in 0..5 {
            fx.emu.start_task("p", TaskSpec::default());
        }
        pages += 1;
        if next.is_empty() {
            break;
        }
        token = next;
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "nothing repeated");
    assert!(originals.is_subset(&unique), "nothing skipped");
    assert!(seen.iter().all(|n| n.starts_with("projects/p/")));
    assert_eq!(pages, 1000usize.div_ceil(37));

    // Page size: at most 500.
    let list = grpc
        .list_operations(ListOperationsRequest {
            name: "projects/p".into(),
            page_size: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.operations.len(), 500);
    let list = grpc
        .list_operations(ListOperationsRequest {
            name: "projects/p/operations".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.operations.len(), 50, "default page size");
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn list_filters() {
    let fx = Fixture::manual().await;
    let running = fx
        .emu
        .start_task("p", TaskSpec::default().with_start_running(true));
    let pending = fx
        .emu
        .start_task("p", TaskSpec::default().with_task_type("INGEST_IMAGE"));
    let mut grpc = fx.grpc().await;
    let list = |filter: &str| ListOperationsRequest {
        name: "projects/p".into(),
        filter: filter.into(),
        ..Default::default()
    };
    let names = |l: eeops::pb::google::longrunning::ListOperationsResponse| {
        l.operations.into_iter().map(|o| o.name).collect::<Vec<_>>()
    };
    let got = names(
        grpc.list_operations(list("metadata.state = RUNNING AND done = false"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(got, vec![running.clone()]);
    let got = names(
        grpc.list_operations(list(r#"metadata.type = "INGEST_IMAGE""#))
            .await
            .unwrap()
            .into_inner(),
    );
    assert_eq!(got, vec![pending.clone()]);
    let got = names(
        grpc.list_operations(list("done = true"))
            .await
            .unwrap()
            .into_inner(),
    );
    assert!(got.is_empty());
    let err = grpc
        .list_operations(list("metadata.state = RUNNING OR done = true"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("supported"), "{}", err.message());
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn wait_returns_early_and_at_the_timeout() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_max_wait(Duration::from_millis(400)),
    )
    .await;
    let a = fx
        .emu
        .start_task("p", TaskSpec::default().with_work(Duration::from_secs(1)));
    let mut grpc = fx.grpc().await;

    // At the timeout: not done, returned anyway.
    let t = Instant::now();
    let op = grpc
        .wait_operation(WaitOperationRequest {
            name: a.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 0,
                nanos: 200_000_000,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let took = t.elapsed();
    assert!(!op.done);
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // The cap: asked for 60 s, got max_wait.
    let t = Instant::now();
    let (status, op) = fx
        .post(&format!("/v1/{a}:wait"), r#"{"timeout":"60s"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(op["done"], serde_json::Value::Null);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // Early: the operation completes 100 ms into a long wait.
    let emu = fx.emu.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu.advance(Duration::from_secs(10));
    });
    let fx2 = Fixture::start(EmulatorConfig::default().with_manual_clock(true)).await;
    let b = fx2
        .emu
        .start_task("p", TaskSpec::default().with_work(Duration::from_secs(1)));
    let emu2 = fx2.emu.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        emu2.advance(Duration::from_secs(10));
    });
    let t = Instant::now();
    let (status, op) = fx2
        .post(&format!("/v1/{b}:wait"), r#"{"timeout":"30s"}"#)
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["done"], true);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    let (status, _) = fx
        .post(&format!("/v1/{a}:wait"), r#"{"timeout":"-1s"}"#)
        .await;
    assert_eq!(status, 400);
    fx.handle.shutdown().await;
    fx2.handle.shutdown().await;
}

#[tokio::test]
async fn real_time_clock_runs_tasks() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(20))
            .with_cancel_delay(Duration::from_millis(50)),
    )
    .await;
    let a = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_queue(Duration::from_millis(100))
            .with_work(Duration::from_millis(400)),
    );
    let b = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(60)),
    );
    assert_eq!(
        meta_of(&fx.emu.operation(&a).unwrap()).state,
        State::Pending as i32
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    let meta = meta_of(&fx.emu.operation(&a).unwrap());
    assert_eq!(meta.state, State::Running as i32);
    assert!(
        meta.progress > 0.0 && meta.progress < 1.0,
        "{}",
        meta.progress
    );
    assert!(meta.start_time.is_some());

    // wait wakes on the background tick.
    let mut grpc = fx.grpc().await;
    let t = Instant::now();
    let op = grpc
        .wait_operation(WaitOperationRequest {
            name: a.clone(),
            timeout: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(op.done);
    assert!(t.elapsed() < Duration::from_secs(2));

    // Cancel, then get shows error code 1 shortly after.
    grpc.cancel_operation(CancelOperationRequest { name: b.clone() })
        .await
        .unwrap();
    let op = grpc
        .wait_operation(WaitOperationRequest {
            name: b.clone(),
            timeout: Some(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(op.result, Some(operation::Result::Error(ref e)) if e.code == 1));
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn unavailable_after_apply_never_applies_twice() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_unavailable_rate(0.5)
            .with_unavailable_after_apply(true)
            .with_rng_seed(42),
    )
    .await;
    let mut grpc = fx.grpc().await;
    let names: Vec<String> = (0..40)
        .map(|_| {
            fx.emu
                .start_task("p", TaskSpec::default().with_start_running(true))
        })
        .collect();
    let (mut unavailable, mut applied_despite_error) = (0, 0);
    for name in &names {
        loop {
            let result = grpc
                .cancel_operation(CancelOperationRequest { name: name.clone() })
                .await;
            match result {
                Ok(_) => break,
                Err(e) => {
                    assert_eq!(e.code(), tonic::Code::Unavailable);
                    unavailable += 1;
                    if fx.emu.effects(name).cancels_applied == 1 {
                        applied_despite_error += 1;
                    }
                }
            }
        }
        assert_eq!(fx.emu.effects(name).cancels_applied, 1, "{name}");
    }
    assert!(unavailable > 0);
    assert!(
        applied_despite_error > 0,
        "some faults came after the effect"
    );

    // Over REST the fault is a 503 in the JSON error shape.
    let mut saw_503 = false;
    for _ in 0..40 {
        let (status, body) = fx.get(&format!("/v1/{}", names[0])).await;
        if status == 503 {
            assert_eq!(body["error"]["status"], "UNAVAILABLE");
            saw_503 = true;
        }
    }
    assert!(saw_503);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn latency_and_despite_cancel() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_latency(Duration::from_millis(60))
            .with_complete_despite_cancel(1.0),
    )
    .await;
    let a = fx
        .emu
        .start_task("p", TaskSpec::default().with_start_running(true));
    let mut grpc = fx.grpc().await;
    let t = Instant::now();
    grpc.cancel_operation(CancelOperationRequest { name: a.clone() })
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(60));
    assert_eq!(
        meta_of(&fx.emu.operation(&a).unwrap()).state,
        State::Cancelling as i32
    );
    fx.emu.advance(Duration::from_secs(60));
    let op = grpc
        .get_operation(GetOperationRequest { name: a.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(op.result, Some(operation::Result::Response(_))),
        "completed despite the cancel"
    );
    assert_eq!(meta_of(&op).state, State::Succeeded as i32);
    assert_eq!(fx.emu.effects(&a).cancels_applied, 1);
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn seeds_from_a_file() {
    let dir = std::env::temp_dir().join(format!("eeops-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.json");
    std::fs::write(
        &path,
        r#"[
          {"project": "p", "id": "AAAAAAAAAAAAAAAAAAAAAAAA", "type": "EXPORT_VIDEO", "state": "RUNNING",
           "progress": 0.5, "work": "10s"},
          {"project": "p", "id": "BBBBBBBBBBBBBBBBBBBBBBBB", "state": "FAILED",
           "error": {"code": 3, "message": "Bad geometry."}},
          {"name": "projects/p/operations/CCCCCCCCCCCCCCCCCCCCCCCC", "done": true,
           "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                        "state": "SUCCEEDED", "type": "INGEST_IMAGE", "description": "kept as given"},
           "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}}
        ]"#,
    )
    .unwrap();
    let fx = Fixture::manual().await;
    assert_eq!(fx.emu.seed_file(&path).unwrap(), 3);
    let (status, op) = fx
        .get("/v1/projects/p/operations/AAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(status, 200);
    assert_eq!(op["metadata"]["state"], "RUNNING");
    assert_eq!(op["metadata"]["progress"], 0.5);
    fx.emu.advance(Duration::from_secs(6));
    assert!(
        fx.emu
            .operation("projects/p/operations/AAAAAAAAAAAAAAAAAAAAAAAA")
            .unwrap()
            .done
    );
    let (_, op) = fx
        .get("/v1/projects/p/operations/BBBBBBBBBBBBBBBBBBBBBBBB")
        .await;
    assert_eq!(op["error"]["code"], 3);
    assert_eq!(op["metadata"]["state"], "FAILED");
    let (_, op) = fx
        .get("/v1/projects/p/operations/CCCCCCCCCCCCCCCCCCCCCCCC")
        .await;
    assert_eq!(op["metadata"]["description"], "kept as given");
    // Google's form of an Empty in an Any: no `value` key.
    assert_eq!(
        op["response"],
        serde_json::json!({"@type": "type.googleapis.com/google.protobuf.Empty"})
    );

    assert!(fx.emu.seed_json("{").is_err());
    assert!(fx.emu.seed_json(r#"[{"type": "EXPORT_IMAGE"}]"#).is_err());
    std::fs::remove_dir_all(&dir).ok();
    fx.handle.shutdown().await;
}

#[tokio::test]
async fn task_ids_look_like_earth_engine_ids() {
    let fx = Fixture::manual().await;
    let counter = Arc::new(AtomicU32::new(0));
    for _ in 0..50 {
        let name = fx.emu.start_task("p", TaskSpec::default());
        let id = name.rsplit('/').next().unwrap();
        assert_eq!(id.len(), 24);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "{id}"
        );
        counter.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(fx.emu.len(), 50);
    fx.handle.shutdown().await;
}

/// Delete removes the record of an operation that is not done, over both transports, and does
/// not stop its work: get answers NOT_FOUND, list omits it, wait ends NOT_FOUND, and the effect
/// counters show it ran on to its end.
#[tokio::test]
async fn delete_of_a_running_operation_removes_the_record_not_the_work() {
    let fx = Fixture::manual().await;
    let mut grpc = fx.grpc().await;
    let running = |i: u64| {
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(10 + i))
    };
    let via_grpc = fx.emu.start_task("p", running(0));
    let via_rest = fx.emu.start_task("p", running(1));
    let pending = fx
        .emu
        .start_task("p", TaskSpec::default().with_queue(Duration::from_secs(5)));
    let kept = fx.emu.start_task("p", running(2));
    fx.emu.advance(Duration::from_secs(2));

    // A wait in flight on the gRPC one ends NOT_FOUND once it is deleted.
    let waiter = {
        let mut grpc = grpc.clone();
        let name = via_grpc.clone();
        tokio::spawn(async move {
            grpc.wait_operation(WaitOperationRequest {
                name,
                timeout: Some(prost_types::Duration {
                    seconds: 30,
                    nanos: 0,
                }),
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;

    grpc.delete_operation(DeleteOperationRequest {
        name: via_grpc.clone(),
    })
    .await
    .unwrap();
    let (status, body) = fx
        .rest(fx.http.delete(fx.url(&format!("/v1/{via_rest}"))))
        .await;
    assert_eq!((status, &body), (200, &serde_json::json!({})));
    let (status, body) = fx
        .rest(fx.http.delete(fx.url(&format!("/v1/{pending}"))))
        .await;
    assert_eq!(status, 200, "{body}");

    let err = waiter.await.unwrap().unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    for name in [&via_grpc, &via_rest, &pending] {
        let err = grpc
            .get_operation(GetOperationRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        let (status, _) = fx.get(&format!("/v1/{name}")).await;
        assert_eq!(status, 404);
        // A second delete finds nothing.
        let (status, _) = fx
            .rest(fx.http.delete(fx.url(&format!("/v1/{name}"))))
            .await;
        assert_eq!(status, 404);
        assert!(fx.emu.operation(name).is_none());
        let effects = fx.emu.effects(name);
        assert_eq!((effects.deletes_applied, effects.completions), (1, 0));
    }
    let (status, list) = fx.get("/v1/projects/p/operations").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![kept.as_str()]);

    // Not cancelled: the work runs on to its end, unseen.
    fx.emu.advance(Duration::from_secs(60));
    for name in [&via_grpc, &via_rest, &pending] {
        let effects = fx.emu.effects(name);
        assert_eq!(
            (
                effects.cancels_applied,
                effects.completions,
                effects.deletes_applied
            ),
            (0, 1, 1),
            "{name}"
        );
    }
    assert_eq!(fx.emu.names(), vec![kept.clone()]);
    fx.handle.shutdown().await;
}

/// A retried task shows attempt 2 with its stages started again, and EECU-seconds appear only
/// on SUCCEEDED; `type` is always there.
#[tokio::test]
async fn retries_eecu_and_type() {
    let fx = Fixture::manual().await;
    let retried = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(10))
            .with_retries(1)
            .with_script_uri("https://example.invalid/script")
            .with_destination_uris(vec!["gs://bucket/out".into()]),
    );
    let failing = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(4))
            .with_outcome(eeops::server::emulator::TaskOutcome::Fail),
    );
    let cancelled = fx
        .emu
        .start_task("p", TaskSpec::default().with_start_running(true));
    fx.emu.advance(Duration::from_secs(3));
    let (_, op) = fx.get(&format!("/v1/{retried}")).await;
    assert_eq!(op["metadata"]["attempt"], 1);
    assert_eq!(
        op["metadata"]["scriptUri"],
        "https://example.invalid/script"
    );
    assert_eq!(op["metadata"]["destinationUris"][0], "gs://bucket/out");
    assert_eq!(op["metadata"]["type"], "EXPORT_IMAGE");
    assert!(
        op["metadata"].get("batchEecuUsageSeconds").is_none(),
        "{op}"
    );
    // int64 is a string in proto3 JSON.
    let units = |op: &serde_json::Value| -> i64 {
        op["metadata"]["stages"][0]["completeWorkUnits"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap()
    };
    let first_units = units(&op);
    assert!(first_units > 0, "{op}");

    fx.emu.advance(Duration::from_secs(3)); // 6 s: the first attempt failed at 5 s
    let (_, op) = fx.get(&format!("/v1/{retried}")).await;
    assert_eq!(op["metadata"]["state"], "RUNNING");
    assert_eq!(op["metadata"]["attempt"], 2, "{op}");
    assert!(units(&op) < first_units, "stages start again: {op}");
    let (status, _) = fx.post(&format!("/v1/{cancelled}:cancel"), "{}").await;
    assert_eq!(status, 200);

    fx.emu.advance(Duration::from_secs(20));
    let (_, op) = fx.get(&format!("/v1/{retried}")).await;
    assert_eq!(op["metadata"]["state"], "SUCCEEDED");
    assert_eq!(op["metadata"]["attempt"], 2);
    assert!(op["metadata"]["batchEecuUsageSeconds"].as_f64().unwrap() > 0.0);
    for name in [&failing, &cancelled] {
        let (_, op) = fx.get(&format!("/v1/{name}")).await;
        assert!(op["done"].as_bool().unwrap(), "{op}");
        assert!(
            op["metadata"].get("batchEecuUsageSeconds").is_none(),
            "{op}"
        );
    }

    // A seeded operation without a type still has one.
    fx.emu
        .seed_json(
            r#"[{"name": "projects/p/operations/NOTYPE", "done": false,
                 "metadata": {"@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
                              "state": "RUNNING"}}]"#,
        )
        .unwrap();
    let (_, op) = fx.get("/v1/projects/p/operations/NOTYPE").await;
    assert_eq!(op["metadata"]["type"], "EXPORT_IMAGE", "{op}");
    fx.handle.shutdown().await;
}

/// `max_running`: at most N operations of a project run at once, the rest wait PENDING and
/// start as slots free, highest priority first, then oldest; projects do not share slots; a
/// cancelled waiting task never starts; a deleted running one keeps its slot until its end.
#[tokio::test]
async fn queueing_keeps_at_most_n_running_per_project() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_max_running(2)
            .with_cancel_delay(Duration::ZERO),
    )
    .await;
    let task = |priority: i32| {
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(10))
            .with_priority(priority)
    };
    // q: 8 tasks; two of high priority created last.
    let mut q: Vec<String> = (0..6).map(|_| fx.emu.start_task("q", task(100))).collect();
    q.push(fx.emu.start_task("q", task(500)));
    q.push(fx.emu.start_task("q", task(500)));
    let r: Vec<String> = (0..3).map(|_| fx.emu.start_task("r", task(100))).collect();
    let mut grpc = fx.grpc().await;
    let lister = grpc.clone();
    let running = |project: &'static str| {
        let mut grpc = lister.clone();
        async move {
            let list = grpc
                .list_operations(ListOperationsRequest {
                    name: format!("projects/{project}"),
                    filter: "metadata.state = RUNNING".into(),
                    page_size: 500,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let mut names: Vec<String> = list.operations.into_iter().map(|o| o.name).collect();
            names.sort();
            names
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(running("q").await, sorted(q[..2].to_vec()));
    assert_eq!(running("r").await, sorted(r[..2].to_vec()));
    let (_, op) = fx.get(&format!("/v1/{}", q[2])).await;
    assert_eq!(op["metadata"]["state"], "PENDING", "{op}");
    assert!(op["metadata"].get("startTime").is_none(), "{op}");

    // A waiting task cancelled never starts; a running one deleted keeps its slot.
    grpc.cancel_operation(CancelOperationRequest { name: q[2].clone() })
        .await
        .unwrap();
    grpc.delete_operation(DeleteOperationRequest { name: q[0].clone() })
        .await
        .unwrap();
    assert_eq!(running("q").await, vec![q[1].clone()]);
    assert_eq!(fx.emu.running_slots("q"), 2);

    // Then the two of priority 500, then the rest oldest first.
    fx.emu.advance(Duration::from_secs(10));
    assert_eq!(running("q").await, sorted(q[6..8].to_vec()));
    assert_eq!(running("r").await, vec![r[2].clone()]);
    fx.emu.advance(Duration::from_secs(10));
    assert_eq!(running("q").await, sorted(q[3..5].to_vec()));
    let mut max_seen = 0;
    for _ in 0..20 {
        fx.emu.advance(Duration::from_secs(3));
        let n = running("q").await.len();
        max_seen = max_seen.max(n);
        assert!(n <= 2 && fx.emu.running_slots("q") <= 2, "{n} running");
    }
    assert!(max_seen >= 1);
    for name in q.iter().skip(1).chain(&r) {
        let op = fx.emu.operation(name).unwrap();
        assert!(op.done, "{name}");
        let want = if name == &q[2] {
            State::Cancelled
        } else {
            State::Succeeded
        };
        assert_eq!(meta_of(&op).state, want as i32, "{name}");
    }
    assert_eq!(
        fx.emu.effects(&q[0]).completions,
        1,
        "the deleted one ran on"
    );
    assert_eq!(fx.emu.running_slots("q"), 0);
    fx.handle.shutdown().await;
}

/// Real-time clock: a wait in flight ends soon after a cancel moves its operation's end
/// earlier, and a wait on a task queued behind a slot ends once the slot frees and the task
/// runs (the background task wakes for both; the bounds only catch a wait that sleeps to the
/// operation's old end or its timeout).
#[tokio::test]
async fn real_time_waits_follow_cancels_and_queue_slots() {
    let fx = Fixture::start(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(10))
            .with_cancel_delay(Duration::from_millis(50))
            .with_max_running(1),
    )
    .await;
    let long = |secs: u64| {
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(secs))
    };
    let first = fx.emu.start_task("p", long(60));
    let queued = fx.emu.start_task(
        "p",
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_millis(200)),
    );
    let other = fx.emu.start_task("q", long(60));
    let grpc = fx.grpc().await;
    let wait = |name: String| {
        let mut grpc = grpc.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let op = grpc
                .wait_operation(WaitOperationRequest {
                    name,
                    timeout: Some(prost_types::Duration {
                        seconds: 30,
                        nanos: 0,
                    }),
                })
                .await
                .unwrap()
                .into_inner();
            (op, t.elapsed())
        })
    };
    let on_other = wait(other.clone());
    let on_queued = wait(queued.clone());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        meta_of(&fx.emu.operation(&queued).unwrap()).state,
        State::Pending as i32
    );
    let mut g = grpc.clone();
    for name in [&other, &first] {
        g.cancel_operation(CancelOperationRequest { name: name.clone() })
            .await
            .unwrap();
    }
    let (op, took) = on_other.await.unwrap();
    assert!(matches!(op.result, Some(operation::Result::Error(ref e)) if e.code == 1));
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (op, took) = on_queued.await.unwrap();
    assert!(
        matches!(op.result, Some(operation::Result::Response(_))),
        "{op:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let meta = meta_of(&op);
    assert!(meta.start_time.is_some());
    fx.handle.shutdown().await;
}
