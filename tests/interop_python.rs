//! Google's own Python clients against the emulator: google-api-core's gRPC and REST
//! operations clients, earthengine-api's `ee.data`, and google-api-python-client's batch
//! requests (scripts under `tests/interop/`).
//!
//! The interpreter is named by `EEOPS_PYTHON` (a venv with `google-api-core[grpc]`,
//! `googleapis-common-protos`, `earthengine-api` and `google-api-python-client`). Without it the tests print a notice and
//! pass, unless `CI` is set, in which case they fail.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};

fn python() -> Option<String> {
    match std::env::var("EEOPS_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "EEOPS_PYTHON is not set, and CI is: the Python interop tests cannot be skipped"
            );
            eprintln!("EEOPS_PYTHON is not set: skipping the Python interop test");
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Starts a real-time emulator with a few long-running tasks in `project`, runs the script
/// with `HOST:PORT PROJECT` and `extra` arguments, and expects `ok`.
async fn run_script(name: &str, project: &str, extra: &[String]) {
    let Some(python) = python() else { return };
    let emu = Emulator::new(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(20))
            .with_cancel_delay(Duration::from_millis(100)),
    );
    for (i, ty) in [
        "EXPORT_IMAGE",
        "EXPORT_FEATURES",
        "INGEST_IMAGE",
        "EXPORT_VIDEO",
    ]
    .iter()
    .enumerate()
    {
        emu.start_task(
            project,
            TaskSpec::default()
                .with_task_type(*ty)
                .with_description(format!("interop task {i}"))
                .with_start_running(true)
                .with_work(Duration::from_secs(3600)),
        );
    }
    // One finished task, so that lists carry a `response` too.
    emu.start_task(
        project,
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_millis(1)),
    );
    let handle = eeops::server::serve(emu.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = handle.local_addr().to_string();
    let path = script(name);
    let args: Vec<String> = [path.display().to_string(), addr, project.to_owned()]
        .into_iter()
        .chain(extra.iter().cloned())
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(&args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run the interpreter: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    handle.shutdown().await;
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_core_grpc_operations_client() {
    run_script("api_core_grpc.py", "interop-grpc", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_core_rest_operations_client() {
    let dir = std::env::temp_dir().join(format!("eeops-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fds = dir.join("eeops_descriptor.bin");
    std::fs::write(&fds, eeops::pb::FILE_DESCRIPTOR_SET).unwrap();
    run_script(
        "api_core_rest.py",
        "interop-rest",
        &[fds.display().to_string()],
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earthengine_api_ee_data() {
    run_script("ee_data.py", "interop-ee", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn googleapiclient_batch_endpoint() {
    run_script("discovery_batch.py", "interop-batch", &[]).await;
}
