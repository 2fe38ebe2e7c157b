//! End to end: the real `eeops` binary against an emulator served on 127.0.0.1:0, over both
//! transports.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskOutcome, TaskSpec};
use eeops::server::{ServerHandle, serve};
use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eeops");
const PROJECT: &str = "cli-test";

async fn start(config: EmulatorConfig) -> (Emulator, ServerHandle) {
    let emu = Emulator::new(config);
    let handle = serve(emu.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("serve");
    (emu, handle)
}

fn manual() -> EmulatorConfig {
    EmulatorConfig::default().with_manual_clock(true)
}

fn running(ty: &str) -> TaskSpec {
    TaskSpec::default()
        .with_task_type(ty)
        .with_description(format!("test {}", ty.to_lowercase()))
        .with_start_running(true)
        .with_work(Duration::from_secs(3600))
}

/// Runs the binary with the emulator's address in the environment; `transport` picks the flag.
async fn eeops(addr: SocketAddr, transport: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--transport", transport, "--project", PROJECT])
        .args(args)
        .env("EEOPS_EMULATOR_HOST", addr.to_string())
        .env_remove("EARTHENGINE_PROJECT")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run eeops")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

const TRANSPORTS: [&str; 2] = ["rest", "grpc"];

#[tokio::test(flavor = "multi_thread")]
async fn list_table_json_filters_and_limit() {
    let (emu, h) = start(manual()).await;
    for _ in 0..3 {
        emu.start_task(PROJECT, running("EXPORT_IMAGE"));
    }
    for _ in 0..2 {
        emu.start_task(PROJECT, TaskSpec::default().with_task_type("INGEST_IMAGE"));
    }
    emu.start_task("another-project", running("EXPORT_IMAGE"));
    for t in TRANSPORTS {
        let o = eeops(h.local_addr(), t, &["list"]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with("ID "), "{t}: {out}");
        assert_eq!(out.lines().count(), 6, "{t}: header and five rows:\n{out}");
        assert_eq!(out.matches("EXPORT_IMAGE").count(), 3);
        assert_eq!(out.matches("PENDING").count(), 2);

        let o = eeops(h.local_addr(), t, &["list", "-o", "json"]).await;
        let ops = json_lines(&o);
        assert_eq!(ops.len(), 5, "{t}");
        for op in &ops {
            assert!(
                op["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("projects/cli-test/operations/")
            );
            assert_eq!(
                op["metadata"]["@type"],
                "type.googleapis.com/google.earthengine.v1.OperationMetadata"
            );
        }

        let o = eeops(
            h.local_addr(),
            t,
            &["list", "-o", "json", "--state", "running"],
        )
        .await;
        assert_eq!(json_lines(&o).len(), 3, "{t}: {}", stderr(&o));
        let o = eeops(
            h.local_addr(),
            t,
            &["list", "-o", "json", "--type", "INGEST_IMAGE"],
        )
        .await;
        assert_eq!(json_lines(&o).len(), 2, "{t}");
        let o = eeops(h.local_addr(), t, &["list", "-o", "json", "--limit", "4"]).await;
        assert_eq!(json_lines(&o).len(), 4, "{t}");
        let o = eeops(
            h.local_addr(),
            t,
            &["list", "--filter", "metadata.priority > 3"],
        )
        .await;
        assert_eq!(
            code(&o),
            1,
            "{t}: an unsupported filter is the server's INVALID_ARGUMENT"
        );
        assert!(
            stderr(&o).contains("INVALID_ARGUMENT"),
            "{t}: {}",
            stderr(&o)
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_info_with_bare_ids_not_found_and_refused_names() {
    let (emu, h) = start(manual()).await;
    let name = emu.start_task(PROJECT, running("EXPORT_FEATURES"));
    let id = name.rsplit('/').next().unwrap().to_owned();
    for t in TRANSPORTS {
        let o = eeops(h.local_addr(), t, &["get", &name]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains(&format!("name          {name}")), "{t}: {out}");
        assert!(
            out.contains("EXPORT_FEATURES")
                && out.contains("RUNNING")
                && out.contains("outcome       running")
        );

        let o = eeops(h.local_addr(), t, &["info", &id, "-o", "json"]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let v = &json_lines(&o)[0];
        assert_eq!(v["name"], name.as_str());
        assert_eq!(v["metadata"]["state"], "RUNNING");

        let missing = format!("projects/{PROJECT}/operations/NOSUCHTASK");
        let o = eeops(h.local_addr(), t, &["get", &missing]).await;
        assert_eq!(code(&o), 1, "{t}");
        let err = stderr(&o);
        assert!(
            err.contains("NOT_FOUND") && err.contains("hint: no such operation"),
            "{t}: {err}"
        );

        for bad in [
            "operations/x",
            "projects/p/operations",
            "projects//operations/x",
            "projects/p/operations/a/../b",
        ] {
            let o = eeops(h.local_addr(), t, &["get", bad]).await;
            assert_eq!(code(&o), 2, "{t}: {bad}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("projects/{project}/operations/{operation}"),
                "{t}: {bad}: {}",
                stderr(&o)
            );
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_name_makes_no_network_call() {
    // Nothing listens on this port: any attempt to connect would be exit code 3.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for t in TRANSPORTS {
        let o = eeops(closed, t, &["cancel", "operations/x"]).await;
        assert_eq!(code(&o), 2, "{t}: {}", stderr(&o));
        let o = eeops(closed, t, &["get", "projects/p/operations/OK"]).await;
        assert_eq!(
            code(&o),
            3,
            "{t}: a valid name does reach for the network: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("hint: cannot reach the endpoint"),
            "{t}: {}",
            stderr(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_confirm_and_unimplemented() {
    let (emu, h) =
        start(EmulatorConfig::default().with_cancel_delay(Duration::from_millis(100))).await;
    for t in TRANSPORTS {
        let a = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
        let b = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
        let o = eeops(h.local_addr(), t, &["cancel", "--confirm", &a]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with(&format!("cancelled: {a} (cancelled (code 1")),
            "{t}: {}",
            stdout(&o)
        );
        let op = emu.operation(&a).unwrap();
        assert!(op.done);
        assert_eq!(emu.metadata(&a).unwrap().state(), State::Cancelled);

        let o = eeops(h.local_addr(), t, &["cancel", "-o", "json", &b]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert_eq!(json_lines(&o)[0]["result"], "cancel requested");
        assert_eq!(emu.effects(&b).cancels_applied, 1);
    }
    h.shutdown().await;

    let (emu, h) = start(manual().with_cancel_unsupported(true)).await;
    let a = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
    for t in TRANSPORTS {
        let o = eeops(h.local_addr(), t, &["cancel", &a]).await;
        assert_eq!(code(&o), 1, "{t}");
        let err = stderr(&o);
        assert!(
            err.contains("UNIMPLEMENTED")
                && err.contains("hint: this server does not support cancel"),
            "{t}: {err}"
        );
        let o = eeops(
            h.local_addr(),
            t,
            &["cancel", "--confirm", "-o", "json", &a],
        )
        .await;
        assert_eq!(code(&o), 1, "{t}");
        let v = &json_lines(&o)[0];
        assert_eq!(v["result"], "cancel unsupported");
        assert_eq!(v["code"], "UNIMPLEMENTED");
        assert_eq!(
            v["state"], "RUNNING",
            "the outcome check still reads the operation"
        );
    }
    assert!(!emu.operation(&a).unwrap().done);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_cancel_of_a_thousand() {
    for t in TRANSPORTS {
        let (emu, h) = start(manual()).await;
        let names: Vec<String> = (0..1000)
            .map(|i| {
                let spec = if i % 4 == 0 {
                    TaskSpec::default()
                        .with_task_type("INGEST_IMAGE")
                        .with_queue(Duration::from_secs(3600))
                } else {
                    running("EXPORT_IMAGE")
                };
                emu.start_task(PROJECT, spec)
            })
            .collect();
        // Finished tasks are left alone.
        let finished = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_work(Duration::from_secs(1)),
        );
        emu.advance(Duration::from_secs(2));
        assert!(emu.operation(&finished).unwrap().done);

        // Without --yes and without a terminal to ask on, nothing happens.
        let o = eeops(h.local_addr(), t, &["cancel", "--all"]).await;
        assert_eq!(code(&o), 2, "{t}: {}", stderr(&o));
        assert!(stderr(&o).contains("--yes"));
        assert!(names.iter().all(|n| emu.effects(n).cancels_applied == 0));

        let o = eeops(
            h.local_addr(),
            t,
            &[
                "cancel",
                "--all",
                "--yes",
                "--concurrency",
                "64",
                "-o",
                "json",
            ],
        )
        .await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        let lines = json_lines(&o);
        assert_eq!(lines.len(), 1000, "{t}: one line per operation");
        assert!(lines.iter().all(|l| l["result"] == "cancel requested"));
        assert!(
            stderr(&o).contains(
                "1000 operations (PENDING or RUNNING) in projects/cli-test: 1000 cancel requested"
            ),
            "{t}: {}",
            stderr(&o)
        );
        for n in &names {
            assert_eq!(emu.effects(n).cancels_applied, 1, "{t}: {n}");
        }
        assert_eq!(emu.effects(&finished).cancels_applied, 0);
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_cancel_by_state_and_type() {
    let (emu, h) = start(manual()).await;
    let pending: Vec<String> = (0..5)
        .map(|_| {
            emu.start_task(
                PROJECT,
                TaskSpec::default().with_queue(Duration::from_secs(3600)),
            )
        })
        .collect();
    let exports: Vec<String> = (0..4)
        .map(|_| emu.start_task(PROJECT, running("EXPORT_VIDEO")))
        .collect();
    let ingests: Vec<String> = (0..3)
        .map(|_| emu.start_task(PROJECT, running("INGEST_IMAGE")))
        .collect();
    let o = eeops(
        h.local_addr(),
        "grpc",
        &[
            "cancel",
            "--all",
            "--yes",
            "--state",
            "RUNNING",
            "--type",
            "export_video",
        ],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(exports.iter().all(|n| emu.effects(n).cancels_applied == 1));
    assert!(
        pending
            .iter()
            .chain(&ingests)
            .all(|n| emu.effects(n).cancels_applied == 0)
    );
    let o = eeops(
        h.local_addr(),
        "rest",
        &["cancel", "--all", "--yes", "--state", "PENDING"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(pending.iter().all(|n| emu.effects(n).cancels_applied == 1));
    assert!(ingests.iter().all(|n| emu.effects(n).cancels_applied == 0));
    let o = eeops(
        h.local_addr(),
        "rest",
        &["cancel", "--all", "--yes", "--state", "SUCCEEDED"],
    )
    .await;
    assert_eq!(code(&o), 2, "only unfinished states can be cancelled");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_reports_outcomes_and_timeouts() {
    let (emu, h) = start(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(20))
            .with_progress_per_tick(20.0),
    )
    .await;
    for t in TRANSPORTS {
        let ok = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_work(Duration::from_secs(10)),
        );
        let bad = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE")
                .with_work(Duration::from_secs(8))
                .with_outcome(TaskOutcome::Fail),
        );
        let o = eeops(h.local_addr(), t, &["wait", &ok]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), format!("succeeded: {ok}"));

        let o = eeops(h.local_addr(), t, &["wait", "-o", "json", &ok, &bad]).await;
        assert_eq!(code(&o), 1, "{t}: a failed operation is exit 1");
        let lines = json_lines(&o);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["done"], true);
        assert_eq!(lines[1]["error"]["code"], 13);

        let slow = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_work(Duration::from_secs(100_000)),
        );
        let o = eeops(h.local_addr(), t, &["wait", "--timeout", "1s", &slow]).await;
        assert_eq!(code(&o), 1, "{t}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("hint: raise --timeout"),
            "{t}: {}",
            stderr(&o)
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_then_get_is_not_found() {
    let (emu, h) = start(manual()).await;
    for t in TRANSPORTS {
        let name = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_work(Duration::from_secs(1)),
        );
        emu.advance(Duration::from_secs(2));
        let o = eeops(h.local_addr(), t, &["delete", &name]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), format!("deleted: {name}"));
        assert!(emu.operation(&name).is_none());
        let o = eeops(h.local_addr(), t, &["get", &name]).await;
        assert_eq!(code(&o), 1, "{t}");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_are_exit_2() {
    let o = Command::new(BIN)
        .args(["list", "--no-such-flag"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&o), 2);
    let o = Command::new(BIN).args(["cancel"]).output().await.unwrap();
    assert_eq!(code(&o), 2, "cancel needs names or --all");
    let o = Command::new(BIN)
        .args(["list"])
        .env("EEOPS_EMULATOR_HOST", "127.0.0.1:9")
        .env_remove("EARTHENGINE_PROJECT")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .output()
        .await
        .unwrap();
    assert_eq!(code(&o), 2, "list without a project: {}", stderr(&o));
    assert!(stderr(&o).contains("--project"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_subcommand_serves_and_stops_on_ctrl_c() {
    let mut child = Command::new(BIN)
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--demo-tasks",
            "7",
            "--demo-project",
            PROJECT,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the emulator prints its address")
        .unwrap()
        .unwrap();
    let addr: SocketAddr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    for t in TRANSPORTS {
        let o = eeops(addr, t, &["list", "-o", "json"]).await;
        assert_eq!(json_lines(&o).len(), 7, "{t}: {}", stderr(&o));
    }
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs() {
    let o = Command::new(BIN)
        .args(["demo", "--speed", "40"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("eeops demo: an Earth Engine emulator is serving gRPC and REST"),
        "{out}"
    );
    assert!(out.contains("[REST]") && out.contains("[gRPC]"), "{out}");
    // Cancel races completion (a task may finish first): count outcomes, not which.
    let summary = out
        .lines()
        .find(|l| l.starts_with("12 tasks: "))
        .unwrap_or_else(|| panic!("{out}"));
    let total: usize = summary["12 tasks: ".len()..]
        .split(['.', ','])
        .filter_map(|part| part.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(total, 12, "{summary}");
    assert!(summary.contains("cancelled"), "{summary}");
}
