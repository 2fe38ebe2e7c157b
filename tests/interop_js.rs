//! Google's Earth Engine JavaScript client (npm `@google/earthengine`, pinned in
//! `tests/interop/js/package.json`) against the emulator: `ee.data.getOperation([...])`,
//! `ee.data.cancelOperation([...])` and `ee.data.getTaskStatus([...])` each send ONE
//! `multipart/mixed` POST to `/batch` (script `tests/interop/js/ee_batch.js`).
//!
//! Needs `node` (or the interpreter named by `EEOPS_NODE`) and the package installed with
//! `npm ci` in `tests/interop/js` (`.ci/run` does both). Without them the test prints SKIPPED
//! and passes, unless `CI` is set, in which case it fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js")
}

/// The node interpreter, if it runs.
fn node() -> Option<String> {
    let node = std::env::var("EEOPS_NODE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let runs = std::process::Command::new(&node)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    runs.then_some(node)
}

/// Node and the package, or why the test cannot run (a failure when `CI` is set).
fn environment() -> Option<String> {
    let missing = match node() {
        None => "node is not installed (or EEOPS_NODE does not run)".to_owned(),
        Some(node) => {
            let package = js_dir().join("node_modules/@google/earthengine/package.json");
            if package.is_file() {
                return Some(node);
            }
            format!(
                "@google/earthengine is not installed (run `npm ci` in {})",
                js_dir().display()
            )
        }
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing}, and CI is set: the EE JavaScript interop test cannot be skipped"
    );
    eprintln!("SKIPPED: the EE JavaScript interop test: {missing}");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ee_js_client_batches_get_and_cancel() {
    let Some(node) = environment() else { return };
    let project = "interop-js";
    // Real time, default settings: a cancel completes about half a second after it is accepted.
    let emu = Emulator::new(EmulatorConfig::default());
    let ids: Vec<String> = [
        "EXPORT_IMAGE",
        "EXPORT_FEATURES",
        "INGEST_IMAGE",
        "EXPORT_VIDEO",
    ]
    .iter()
    .enumerate()
    .map(|(i, ty)| {
        let name = emu.start_task(
            project,
            TaskSpec::default()
                .with_task_type(*ty)
                .with_description(format!("js interop task {i}"))
                .with_start_running(true)
                .with_work(Duration::from_secs(3600)),
        );
        name.rsplit('/').next().unwrap_or_default().to_owned()
    })
    .collect();
    let handle = eeops::server::serve(emu.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    let mut cmd = tokio::process::Command::new(&node);
    cmd.current_dir(js_dir())
        .arg("ee_batch.js")
        .arg(handle.local_addr().to_string())
        .arg(project)
        .args(&ids)
        .kill_on_drop(true);
    // A bound that only catches a hang.
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the EE JavaScript client did not finish within 120 s")
        .unwrap_or_else(|e| panic!("cannot run {node}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    handle.shutdown().await;
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "ee_batch.js failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );

    // What the client saw, the store holds: every task cancelled once, ending CANCELLED.
    for id in &ids {
        let name = format!("projects/{project}/operations/{id}");
        assert_eq!(emu.effects(&name).cancels_applied, 1, "{name}");
        let op = emu.operation(&name).unwrap();
        assert!(op.done, "{name} not done");
        let code = match op.result {
            Some(eeops::pb::google::longrunning::operation::Result::Error(s)) => s.code,
            other => panic!("{name} ended with {other:?}"),
        };
        assert_eq!(code, 1, "{name}");
    }
}
