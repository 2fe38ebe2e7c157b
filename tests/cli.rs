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
            2,
            "{t}: an unsupported filter is the server's INVALID_ARGUMENT, a usage error"
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
            stdout(&o).starts_with(&format!("cancelled: {a} (code 1: ")),
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
        assert_eq!(v["result"], "error");
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
        assert_eq!(code(&o), 3, "{t}: a timeout is exit 3: {}", stderr(&o));
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

/// Runs the binary with the emulator's address and project in the environment, without the
/// transport flag (for commands that refuse it).
fn plain(addr: SocketAddr) -> Command {
    let mut c = Command::new(BIN);
    c.env("EEOPS_EMULATOR_HOST", addr.to_string())
        .env("EARTHENGINE_PROJECT", PROJECT)
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .stdin(std::process::Stdio::null());
    c
}

fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_without_all_are_refused_and_leave_the_task_untouched() {
    let (emu, h) = start(manual()).await;
    let video = emu.start_task(PROJECT, running("EXPORT_VIDEO"));
    for t in TRANSPORTS {
        for (args, flag) in [
            (vec!["cancel", "--type", "EXPORT_IMAGE", &video], "--type"),
            (vec!["cancel", "--state", "RUNNING", &video], "--state"),
            (vec!["cancel", "--yes", &video], "--yes"),
            (vec!["cancel", "-y", "--confirm", &video], "--yes"),
            (vec!["wait", "--type", "EXPORT_VIDEO", &video], "--type"),
            (vec!["wait", "--state", "RUNNING", &video], "--state"),
        ] {
            let o = eeops(h.local_addr(), t, &args).await;
            assert_eq!(code(&o), 2, "{t}: {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(flag), "{t}: {args:?}: {}", stderr(&o));
            assert!(stdout(&o).is_empty(), "{t}: {args:?}");
        }
        for args in [
            vec!["cancel", "all", &video],
            vec!["cancel", "--all", &video],
            vec!["wait", "all", &video],
            vec!["cancel"],
            vec!["wait"],
        ] {
            let o = eeops(h.local_addr(), t, &args).await;
            assert_eq!(code(&o), 2, "{t}: {args:?}: {}", stderr(&o));
        }
    }
    assert_eq!(emu.effects(&video).cancels_applied, 0);
    assert!(!emu.operation(&video).unwrap().done);
    h.shutdown().await;
}

/// Reads one line of the child's stdout, closes the pipe, and returns the exit status and
/// stderr.
async fn read_one_line_then_close(mut cmd: Command) -> (std::process::ExitStatus, String) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).await.unwrap();
    assert!(!first.is_empty(), "no output at all");
    drop(out);
    let mut err = String::new();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        stderr_pipe.read_to_string(&mut err).await.unwrap();
        child.wait().await.unwrap()
    })
    .await
    .expect("ends");
    (status, err)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_ends_quietly() {
    let (emu, h) = start(manual()).await;
    for i in 0..1500 {
        emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_description(format!("a long enough description #{i}")),
        );
    }
    for t in TRANSPORTS {
        for args in [&["list"][..], &["list", "-o", "json"], &["list", "-l"]] {
            let mut cmd = plain(h.local_addr());
            cmd.args(["--transport", t]).args(args);
            let (status, err) = read_one_line_then_close(cmd).await;
            assert_eq!(status.code(), Some(0), "{t} {args:?}: {err}");
            assert!(err.is_empty(), "{t} {args:?}: nothing on stderr: {err}");
        }
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["demo", "--speed", "40"]);
    let (status, err) = read_one_line_then_close(cmd).await;
    assert_eq!(status.code(), Some(0), "demo: {err}");
    assert!(err.is_empty(), "demo: {err}");
    h.shutdown().await;
}

const EVIL: &str = "evil \u{1b}[2J\u{1b}]0;pwned\u{7} \u{9b}31m \u{202e}txt";

fn assert_no_raw_controls(what: &str, text: &str) {
    for c in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}'] {
        assert!(
            !text.contains(c),
            "{what}: raw {:?} in {text:?}",
            c.escape_unicode().to_string()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_is_escaped() {
    let (emu, h) = start(manual()).await;
    let desc = emu.start_task(PROJECT, running("EXPORT_IMAGE").with_description(EVIL));
    let failed = emu.start_task(
        PROJECT,
        running("EXPORT_IMAGE")
            .with_work(Duration::from_secs(1))
            .with_outcome(TaskOutcome::Fail)
            .with_failure_message(EVIL),
    );
    emu.advance(Duration::from_secs(2));
    assert!(emu.operation(&failed).unwrap().done);
    for t in TRANSPORTS {
        for args in [
            vec!["list"],
            vec!["list", "-l"],
            vec!["get", &desc],
            vec!["get", &failed],
            vec!["wait", &failed],
            vec!["cancel", "--confirm", &failed],
        ] {
            let o = eeops(h.local_addr(), t, &args).await;
            assert_no_raw_controls(&format!("{t} {args:?} stdout"), &stdout(&o));
            assert_no_raw_controls(&format!("{t} {args:?} stderr"), &stderr(&o));
            assert!(
                stdout(&o).contains("\\x1b[2J\\x1b]0;pwned\\x07"),
                "{t} {args:?}: shown escaped: {}",
                stdout(&o)
            );
        }
        // JSON keeps the text as it is (JSON escapes the C0 controls: ESC, BEL).
        let o = eeops(h.local_addr(), t, &["get", "-o", "json", &desc]).await;
        assert!(!stdout(&o).contains(['\u{1b}', '\u{7}']), "{t} json");
        assert_eq!(json_lines(&o)[0]["metadata"]["description"], EVIL);
    }
    // An error line whose text came from a proxy.
    let proxy = html_proxy(502, EVIL).await;
    for t in TRANSPORTS {
        let o = eeops(proxy, t, &["get", "projects/p/operations/X"]).await;
        assert_ne!(code(&o), 0);
        assert_no_raw_controls(&format!("{t} proxy error line"), &stderr(&o));
    }
    h.shutdown().await;
}

/// A stand-in for a proxy or load balancer that answers every request, over HTTP/1.1 and
/// HTTP/2, with an HTML page and this status.
async fn html_proxy(status: u16, text: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [(axum::http::header::CONTENT_TYPE, "text/html")],
            format!("<html><body><h1>{status}</h1>{text}</body></html>"),
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn all_as_a_name_cancels_and_waits_for_everything() {
    for t in TRANSPORTS {
        let (emu, h) = start(manual()).await;
        let tasks: Vec<String> = (0..6)
            .map(|i| {
                let ty = if i % 2 == 0 {
                    "EXPORT_IMAGE"
                } else {
                    "INGEST_IMAGE"
                };
                emu.start_task(PROJECT, running(ty))
            })
            .collect();
        let o = eeops(h.local_addr(), t, &["cancel", "all", "--yes"]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(
                "6 operations (PENDING or RUNNING) in projects/cli-test: 6 cancel requested"
            ),
            "{t}: {}",
            stderr(&o)
        );
        for n in &tasks {
            assert_eq!(emu.effects(n).cancels_applied, 1, "{t}: {n}");
        }
        emu.advance(Duration::from_secs(5));
        // Nothing left to wait for.
        let o = eeops(h.local_addr(), t, &["wait", "all"]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("nothing to wait for"),
            "{t}: {}",
            stderr(&o)
        );
        h.shutdown().await;
    }
    // `wait all` follows every unfinished task to its end.
    let (emu, h) = start(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(20))
            .with_progress_per_tick(20.0),
    )
    .await;
    let tasks: Vec<String> = (0..3)
        .map(|_| {
            emu.start_task(
                PROJECT,
                running("EXPORT_IMAGE").with_work(Duration::from_secs(3)),
            )
        })
        .collect();
    for t in TRANSPORTS {
        let o = eeops(h.local_addr(), t, &["wait", "all", "-o", "json"]).await;
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
    }
    assert!(tasks.iter().all(|n| emu.operation(n).unwrap().done));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_takes_several_values_and_the_legacy_names() {
    let (emu, h) = start(manual()).await;
    let pending: Vec<String> = (0..2)
        .map(|_| {
            emu.start_task(
                PROJECT,
                TaskSpec::default().with_queue(Duration::from_secs(3600)),
            )
        })
        .collect();
    let running_tasks: Vec<String> = (0..3)
        .map(|_| emu.start_task(PROJECT, running("EXPORT_IMAGE")))
        .collect();
    let done = emu.start_task(
        PROJECT,
        running("EXPORT_TILES").with_work(Duration::from_secs(1)),
    );
    emu.advance(Duration::from_secs(2));
    assert!(emu.operation(&done).unwrap().done);
    let names = |o: &Output| -> Vec<String> {
        let mut v: Vec<String> = json_lines(o)
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    let mut pending_and_running: Vec<String> =
        pending.iter().chain(&running_tasks).cloned().collect();
    pending_and_running.sort();
    for t in TRANSPORTS {
        for args in [
            &["list", "-o", "json", "--state", "READY,RUNNING"][..],
            &[
                "list", "-o", "json", "--state", "pending", "--state", "running",
            ],
        ] {
            let o = eeops(h.local_addr(), t, args).await;
            assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
            assert_eq!(names(&o), pending_and_running, "{t}: {args:?}");
        }
        let o = eeops(
            h.local_addr(),
            t,
            &["list", "-o", "json", "--state", "COMPLETED"],
        )
        .await;
        assert_eq!(names(&o), vec![done.clone()], "{t}");
        let o = eeops(
            h.local_addr(),
            t,
            &["list", "-o", "json", "--type", "export_map"],
        )
        .await;
        assert_eq!(
            names(&o),
            vec![done.clone()],
            "{t}: EXPORT_MAP is EXPORT_TILES"
        );
        let o = eeops(h.local_addr(), t, &["list", "-l"]).await;
        assert!(
            stdout(&o).contains("EECU-S") && stdout(&o).contains("UPDATED (UTC)"),
            "{t}"
        );
    }
    // Refused before anything is sent: nothing listens on this port (that would be exit 3).
    let closed = closed_port();
    for t in TRANSPORTS {
        for (args, says) in [
            (&["list", "--state", "UNSUBMITTED"][..], "UNSUBMITTED"),
            (&["list", "--state", "UNKNOWN"], "UNKNOWN"),
            (&["list", "--state", "RUNNING,DONE"], "DONE"),
            (&["list", "--type", "EXPORT_PDF"], "EXPORT_FEATURES"),
            (
                &["cancel", "all", "--state", "SUCCEEDED", "--yes"],
                "unfinished",
            ),
        ] {
            let o = eeops(closed, t, args).await;
            assert_eq!(code(&o), 2, "{t}: {args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(says), "{t}: {args:?}: {}", stderr(&o));
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn named_cancels_run_concurrently_and_report_in_input_order() {
    let latency = Duration::from_millis(200);
    let (emu, h) = start(manual().with_latency(latency)).await;
    for t in TRANSPORTS {
        let names: Vec<String> = (0..50)
            .map(|_| emu.start_task(PROJECT, running("EXPORT_IMAGE")))
            .collect();
        let o = eeops(h.local_addr(), t, &["cancel", &names[0]]).await;
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        emu.advance(Duration::from_secs(1));
        assert!(emu.operation(&names[0]).unwrap().done);
        let mut args = vec!["cancel"];
        args.extend(names.iter().map(String::as_str));
        let started = std::time::Instant::now();
        let o = eeops(h.local_addr(), t, &args).await;
        let took = started.elapsed();
        assert_eq!(code(&o), 0, "{t}: {}", stderr(&o));
        // One at a time this is 50 x (get + cancel) x 200 ms = 20 s; 32 at once, a few calls.
        assert!(took < Duration::from_secs(10), "{t}: {took:?}");
        let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 50, "{t}");
        for (line, name) in lines.iter().zip(&names) {
            assert!(
                line.ends_with(name.as_str()) || line.contains(&format!("{name} (")),
                "{t}: {line} for {name}"
            );
        }
        assert!(
            lines[0].starts_with("already cancelled: "),
            "{t}: {}",
            lines[0]
        );
        assert!(
            names.iter().all(|n| emu.effects(n).cancels_applied == 1),
            "{t}"
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_errors_follow_one_rule() {
    let (emu, h) = start(manual()).await;
    let ok = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
    let missing = format!("projects/{PROJECT}/operations/NOSUCH");
    for t in TRANSPORTS {
        for verb in ["get", "cancel", "wait", "delete"] {
            let o = eeops(
                h.local_addr(),
                t,
                &[verb, "-o", "json", "--timeout", "5s", &missing],
            )
            .await;
            assert_eq!(code(&o), 1, "{t} {verb}: {}", stderr(&o));
            let lines = json_lines(&o);
            assert_eq!(lines.len(), 1, "{t} {verb}");
            assert_eq!(lines[0]["name"], missing.as_str(), "{t} {verb}");
            assert_eq!(lines[0]["result"], "error", "{t} {verb}");
            assert_eq!(lines[0]["code"], "NOT_FOUND", "{t} {verb}");
            assert!(
                stderr(&o).contains("NOT_FOUND"),
                "{t} {verb}: the message on stderr too"
            );
        }
        // A refused list: the collection is the name.
        let o = eeops(
            h.local_addr(),
            t,
            &["list", "-o", "json", "--filter", "metadata.priority > 3"],
        )
        .await;
        assert_eq!(code(&o), 2, "{t}: {}", stderr(&o));
        let lines = json_lines(&o);
        assert_eq!(lines.len(), 1, "{t}");
        assert_eq!(lines[0]["name"], format!("projects/{PROJECT}"));
        assert_eq!(lines[0]["result"], "error");
        assert_eq!(lines[0]["code"], "INVALID_ARGUMENT");
        let o = eeops(h.local_addr(), t, &["get", "-o", "json", &ok, &missing]).await;
        let lines = json_lines(&o);
        assert_eq!(lines.len(), 2, "{t}");
        assert_eq!(lines[0]["name"], ok.as_str());
        assert_eq!(lines[1]["result"], "error");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes_are_the_same_on_both_transports() {
    let (emu, h) = start(manual()).await;
    let task = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
    let (unsupported_emu, unsupported) = start(manual().with_cancel_unsupported(true)).await;
    let other = unsupported_emu.start_task(PROJECT, running("EXPORT_IMAGE"));
    let (_, unavailable) = start(manual().with_unavailable_rate(1.0)).await;
    let proxy = html_proxy(502, "Bad Gateway").await;
    let closed = closed_port();
    let missing = format!("projects/{PROJECT}/operations/NOSUCH");
    let table: Vec<(&str, SocketAddr, Vec<&str>, i32)> = vec![
        ("success", h.local_addr(), vec!["get", &task], 0),
        ("not found", h.local_addr(), vec!["get", &missing], 1),
        (
            "cancel unsupported",
            unsupported.local_addr(),
            vec!["cancel", &other],
            1,
        ),
        (
            "refused name",
            h.local_addr(),
            vec!["get", "operations/x"],
            2,
        ),
        (
            "refused filter",
            h.local_addr(),
            vec!["list", "--filter", "metadata.priority > 3"],
            2,
        ),
        (
            "refused state",
            h.local_addr(),
            vec!["list", "--state", "DONE"],
            2,
        ),
        ("connection refused", closed, vec!["get", &missing], 3),
        (
            "UNAVAILABLE (JSON 503)",
            unavailable.local_addr(),
            vec!["get", &missing],
            3,
        ),
        ("proxy HTML 502", proxy, vec!["get", &missing], 3),
        (
            "timeout",
            h.local_addr(),
            vec!["wait", "--timeout", "1s", &task],
            3,
        ),
    ];
    for t in TRANSPORTS {
        for (what, addr, args, expected) in &table {
            let o = eeops(*addr, t, args).await;
            assert_eq!(code(&o), *expected, "{t}: {what}: {}", stderr(&o));
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_reports_what_it_found() {
    let (emu, h) =
        start(EmulatorConfig::default().with_cancel_delay(Duration::from_millis(50))).await;
    for t in TRANSPORTS {
        let a = emu.start_task(PROJECT, running("EXPORT_IMAGE"));
        let o = eeops(h.local_addr(), t, &["cancel", "--confirm", &a]).await;
        assert_eq!(
            stdout(&o).trim(),
            format!("cancelled: {a} (code 1: Cancelled.)"),
            "{t}"
        );
        let o = eeops(h.local_addr(), t, &["cancel", &a]).await;
        assert_eq!(code(&o), 0, "{t}");
        assert_eq!(
            stdout(&o).trim(),
            format!("already cancelled: {a} (code 1: Cancelled.)"),
            "{t}"
        );
        assert_eq!(
            emu.effects(&a).cancels_applied,
            1,
            "{t}: no second cancel sent"
        );
        // A failed task is not shown as 100% done.
        let f = emu.start_task(
            PROJECT,
            running("EXPORT_VIDEO")
                .with_work(Duration::from_millis(100))
                .with_outcome(TaskOutcome::Fail),
        );
        let o = eeops(h.local_addr(), t, &["wait", &f]).await;
        assert_eq!(code(&o), 1, "{t}");
        let o = eeops(h.local_addr(), t, &["list", "--state", "FAILED"]).await;
        let row = stdout(&o)
            .lines()
            .find(|l| l.contains("FAILED"))
            .map(str::to_owned)
            .unwrap_or_default();
        assert!(!row.contains("100%"), "{t}: {row}");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_in_a_terminal_shows_progress_moving() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` (util-linux) to run eeops in a pseudo-terminal");
        return;
    }
    let (emu, h) = start(EmulatorConfig::default().with_tick(Duration::from_millis(20))).await;
    for t in TRANSPORTS {
        // A third a second: the bar must move within 2 s, and the task ends in about 3 s.
        let task = emu.start_task(
            PROJECT,
            running("EXPORT_IMAGE").with_work(Duration::from_secs(3)),
        );
        let cmdline = format!("{BIN} --transport {t} wait {task}");
        let mut child = plain(h.local_addr())
            .program_for_script(&cmdline)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let (moved, text) = tokio::time::timeout(Duration::from_secs(60), async {
            use tokio::io::AsyncReadExt as _;
            let mut text = String::new();
            let mut buf = [0u8; 4096];
            let mut first: Option<(u32, std::time::Instant)> = None;
            let mut moved = None;
            loop {
                let n = out.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return (moved, text);
                }
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                if moved.is_none() {
                    let percents = percentages(&text);
                    if let Some(&p0) = percents.first() {
                        let (p0, at) = *first.get_or_insert((p0, std::time::Instant::now()));
                        if percents.iter().any(|&p| p != p0) {
                            moved = Some(at.elapsed());
                        }
                    }
                }
            }
        })
        .await
        .expect("eeops wait ends");
        let after = moved.unwrap_or_else(|| panic!("{t}: the bar never moved: {text:?}"));
        assert!(
            after <= Duration::from_secs(2),
            "{t}: the bar moved only after {after:?}"
        );
        // The result is on the screen at the end, not hidden by a bar.
        assert!(
            text.contains(&format!("succeeded: {task}")),
            "{t}: {text:?}"
        );
        let _ = child.wait().await;
    }
    h.shutdown().await;
}

/// The `NN%` values in a terminal transcript, in order.
fn percentages(text: &str) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let digits: String = text[..i]
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            if let Ok(p) = digits.parse() {
                found.push(p);
            }
        }
    }
    found
}

trait ScriptExt {
    fn program_for_script(&mut self, cmdline: &str) -> Command;
}

impl ScriptExt for Command {
    /// The same environment, running `cmdline` under `script` (a pseudo-terminal).
    fn program_for_script(&mut self, cmdline: &str) -> Command {
        let std = self.as_std();
        let mut c = Command::new("script");
        c.args(["-qfec", cmdline, "/dev/null"]);
        for (k, v) in std.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.stdin(std::process::Stdio::null());
        c
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn emulator_addresses_and_the_export_line() {
    use tokio::io::AsyncBufReadExt as _;
    for addr in ["localhost:0", "0", "127.0.0.1:0"] {
        let mut child = Command::new(BIN)
            .args(["emulator", "--addr", addr])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("prints")
                .unwrap()
                .unwrap_or_default()
        };
        let listening = next().await;
        assert!(
            listening.contains("http://127.0.0.1:"),
            "{addr}: {listening}"
        );
        let export = next().await;
        let bound = export
            .strip_prefix("export EEOPS_EMULATOR_HOST=")
            .unwrap_or_else(|| panic!("{addr}: {export}"));
        let bound: SocketAddr = bound.parse().unwrap();
        assert_ne!(bound.port(), 0);
        let o = eeops(bound, "grpc", &["list", "-o", "json"]).await;
        assert_eq!(code(&o), 0, "{addr}: {}", stderr(&o));
        let _ = child.kill().await;
    }
    // A taken address is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let o = Command::new(BIN)
        .args(["emulator", "--addr", &port])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&o)
    );
    drop(taken);
    let o = Command::new(BIN)
        .args(["emulator", "--addr", "nowhere:80"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("PORT"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn help_shows_what_applies_and_completions_and_man_print() {
    let run = async |args: &[&str]| Command::new(BIN).args(args).output().await.unwrap();
    for sub in ["emulator", "demo"] {
        let o = run(&[sub, "--help"]).await;
        assert_eq!(code(&o), 0);
        let help = stdout(&o);
        for flag in [
            "--project",
            "--transport",
            "--endpoint",
            "--output",
            "--timeout",
            "--quota-project",
            "--api-version",
        ] {
            assert!(!help.contains(flag), "{sub} --help lists {flag}:\n{help}");
        }
        let o = run(&[sub, "--project", "p"]).await;
        assert_eq!(code(&o), 2, "{sub}");
        assert!(
            stderr(&o).contains("--project does not apply"),
            "{}",
            stderr(&o)
        );
        let o = run(&["--transport", "grpc", sub]).await;
        assert_eq!(code(&o), 2, "{sub}");
        assert!(
            stderr(&o).contains("--transport does not apply"),
            "{}",
            stderr(&o)
        );
    }
    for args in [
        &["--transport", "grpc", "--api-version", "v1beta", "list"][..],
        &["list", "-l", "-o", "json"],
    ] {
        let o = run(args).await;
        assert_eq!(
            code(&o),
            2,
            "{args:?} is refused, not ignored: {}",
            stderr(&o)
        );
    }
    let o = run(&["list", "--help"]).await;
    assert!(stdout(&o).contains("--project") && stdout(&o).contains("--long"));
    for alias in ["info", "describe"] {
        let o = run(&[alias, "--help"]).await;
        assert!(
            stdout(&o).contains(&format!("Usage: eeops {alias} ")),
            "{}",
            stdout(&o)
        );
    }
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = run(&["completions", shell]).await;
        assert_eq!(code(&o), 0, "{shell}");
        assert!(
            stdout(&o).contains("eeops") && stdout(&o).contains("cancel"),
            "{shell}"
        );
    }
    let o = run(&["man"]).await;
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(".TH eeops 1"), "{}", stdout(&o));
}

/// `eeops emulator | head -1`: the reader of stdout is gone before the banner is written. The
/// emulator keeps serving (it used to panic on the closed pipe and exit).
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_outlives_a_closed_stdout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(BIN)
        .args(["emulator", "--addr", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut served = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            served = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill().await;
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(served && alive, "the emulator did not keep serving: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Several names against a port where nothing listens: the bulk calls give up after the retry
/// policy's attempts, as a single call does, instead of retrying until their 10-minute
/// deadline. Exit 3, with the connection error named for each name.
#[tokio::test(flavor = "multi_thread")]
async fn several_names_against_a_dead_port_end_promptly() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for args in [
        &["get", "AAAA", "BBBB"][..],
        &["delete", "AAAA", "BBBB"],
        &["cancel", "AAAA", "BBBB"],
    ] {
        let o = tokio::time::timeout(Duration::from_secs(60), eeops(dead, "rest", args))
            .await
            .unwrap_or_else(|_| panic!("{args:?} still running after 60 s"));
        assert_eq!(code(&o), 3, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("cannot connect"), "{}", stderr(&o));
    }
}
