//! Every emulator knob and seed item is checked where it enters: NaN, infinities, negative and
//! huge values give a clear error (exit 2 naming the flag, for `eeops emulator`) or a clamp,
//! never a panic; bad seed items are refused naming the item.

mod server_support;

use std::time::Duration;

use eeops::pb::google::longrunning::{
    CancelOperationRequest, GetOperationRequest, ListOperationsRequest, WaitOperationRequest,
};
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use server_support::Fixture;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eeops");

/// Odd numbers, as a user might type them.
const BAD_NUMBERS: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "-1",
    "-0.5",
    "1.5",
    "1e400",
    "18446744073709551616",
    "",
    "x",
];

/// Odd durations.
const BAD_DURATIONS: &[&str] = &[
    "NaN",
    "inf",
    "-1s",
    "9300000000000000000s",
    "1e30",
    "99999999999h",
    "18446744073709551615",
    "1.5.5s",
    "",
    "s",
    "10 parsecs",
];

/// Runs `eeops emulator ARGS`, which must refuse them and exit (an emulator that accepted them
/// would listen until killed: the generous bound only catches that).
async fn emulator_with(args: &[&str]) -> std::process::Output {
    let run = Command::new(BIN)
        .arg("emulator")
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(60), run).await {
        Ok(out) => out.expect("run eeops"),
        Err(_) => panic!("eeops emulator {args:?} accepted its arguments and kept running"),
    }
}

#[tokio::test]
async fn bad_flag_values_exit_2_naming_the_flag() {
    let mut cases: Vec<(&str, &str)> = Vec::new();
    for flag in [
        "--complete-despite-cancel",
        "--unavailable-rate",
        "--retry-rate",
    ] {
        cases.extend(BAD_NUMBERS.iter().map(|v| (flag, *v)));
    }
    for v in BAD_NUMBERS.iter().filter(|v| !["1.5", "-0.5"].contains(v)) {
        cases.push(("--speed", v));
    }
    cases.extend([("--speed", "0"), ("--speed", "1e7"), ("--speed", "-0.5")]);
    for flag in ["--latency", "--tick", "--cancel-delay", "--max-wait"] {
        cases.extend(BAD_DURATIONS.iter().map(|v| (flag, *v)));
    }
    for v in ["-1", "1e3", "100000000000", "x"] {
        cases.push(("--demo-tasks", v));
    }
    for v in ["0", "-1", "x", "4294967296", "NaN"] {
        cases.push(("--max-running", v));
    }
    // A few at a time: each is a process start.
    let outputs = futures::future::join_all(cases.iter().map(|(flag, value)| async move {
        let arg = format!("{flag}={value}");
        (flag, value, emulator_with(&[&arg]).await)
    }))
    .await;
    for (flag, value, out) in outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}={value}: {stderr}");
        assert!(stderr.contains(flag), "{flag}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flag}={value}: {stderr}");
    }
}

/// A seed file with one bad item: refused before listening, exit non-zero, naming the item.
#[tokio::test]
async fn bad_seed_files_are_refused_naming_the_item() {
    let dir = std::env::temp_dir().join(format!("eeops-bad-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = r#"{"project": "p", "id": "GOOD"}"#;
    let bad_items = [
        (r#"{"project": "p", "id": ""}"#, "empty"),
        (r#"{"project": "p", "id": "a/../b"}"#, "`..`"),
        (r#"{"project": "a/b"}"#, "contains `/`"),
        (r#"{"project": "", "id": "X"}"#, "project is empty"),
        (r#"{"project": "p", "id": 7}"#, "`id` must be a string"),
        (r#"{"project": "p", "work": "NaN"}"#, "`work`"),
        (
            r#"{"project": "p", "work": "9300000000000000000s"}"#,
            "`work`",
        ),
        (r#"{"project": "p", "queue": "-1s"}"#, "`queue`"),
        (r#"{"project": "p", "progress": 1.5}"#, "`progress`"),
        (r#"{"project": "p", "retries": -1}"#, "`retries`"),
        (r#"{"project": "p", "retries": 1000000}"#, "`retries`"),
        (r#"{"project": "p", "priority": 1e40}"#, "priority"),
        (
            r#"{"name": "projects/p/operations/a/../b", "done": false}"#,
            "`..`",
        ),
        (good, "both name `projects/p/operations/GOOD`"),
    ];
    for (i, (item, want)) in bad_items.iter().enumerate() {
        let text = format!("[{good}, {item}]");
        // The library says which item and what is wrong ...
        let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
        let err = match emu.seed_json(&text) {
            Ok(n) => panic!("{item}: accepted ({n} operations)"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{item}: {err}");
        if *item == good {
            assert!(err.contains("items 0 and 1"), "{err}");
        } else {
            assert!(err.contains("item 1:"), "{item}: {err}");
        }
        assert_eq!(emu.len(), 0, "nothing loaded from a refused seed");
        // ... and so does the command, without listening.
        let path = dir.join(format!("seed{i}.json"));
        std::fs::write(&path, &text).unwrap();
        let out = emulator_with(&["--seed", path.to_str().unwrap()]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{item}: {stderr}");
        assert!(stderr.contains(want), "{item}: {stderr}");
        assert!(!stderr.contains("panicked"), "{item}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every numeric knob and duration of the library's configuration, fed odd values: `validate`
/// names the field, `try_new` refuses, `new` clamps and then serves every call without a
/// panic (a wait without a timeout included).
#[tokio::test]
async fn odd_config_values_are_refused_or_clamped() {
    let numbers = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        -0.0,
        1.0 + f64::EPSILON,
        2.0,
        1e300,
        f64::MIN_POSITIVE,
        0.0,
        0.5,
        1.0,
    ];
    let durations = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(9_300_000_000_000_000_000),
        Duration::MAX,
        Duration::from_secs(u64::MAX / 2),
    ];
    type Knob = (&'static str, fn(EmulatorConfig, f64) -> EmulatorConfig);
    let prob_knobs: [Knob; 4] = [
        ("complete_despite_cancel", |c, v| {
            c.with_complete_despite_cancel(v)
        }),
        ("unavailable_rate", |c, v| c.with_unavailable_rate(v)),
        ("retry_rate", |c, v| c.with_retry_rate(v)),
        ("progress_per_tick", |c, v| c.with_progress_per_tick(v)),
    ];
    type DKnob = (&'static str, fn(EmulatorConfig, Duration) -> EmulatorConfig);
    let duration_knobs: [DKnob; 4] = [
        ("latency", |c, d| c.with_latency(d)),
        ("tick", |c, d| c.with_tick(d)),
        ("max_wait", |c, d| c.with_max_wait(d)),
        ("cancel_delay", |c, d| c.with_cancel_delay(d)),
    ];
    let mut configs = Vec::new();
    let zero_slots = EmulatorConfig::default()
        .with_manual_clock(true)
        .with_max_running(0);
    assert_eq!(zero_slots.validate().unwrap_err().field(), "max_running");
    configs.push(zero_slots);
    for (field, set) in prob_knobs {
        for v in numbers {
            let config = set(EmulatorConfig::default().with_manual_clock(true), v);
            let ok = if field == "progress_per_tick" {
                v.is_finite() && (1e-6..=1e6).contains(&v)
            } else {
                v.is_finite() && (0.0..=1.0).contains(&v)
            };
            match config.validate() {
                Ok(()) => assert!(ok, "{field} = {v} accepted"),
                Err(e) => {
                    assert!(!ok, "{field} = {v} refused: {e}");
                    assert_eq!(e.field(), field);
                    assert!(e.to_string().contains(field));
                    assert!(Emulator::try_new(config.clone()).is_err());
                }
            }
            configs.push(config);
        }
    }
    for (field, set) in duration_knobs {
        for d in durations {
            // Latency is real time: keep the calls below quick.
            if field == "latency" && d > Duration::ZERO {
                let config = set(EmulatorConfig::default(), d);
                if d > Duration::from_secs(3600) {
                    assert_eq!(config.validate().unwrap_err().field(), field);
                }
                continue;
            }
            let config = set(EmulatorConfig::default().with_manual_clock(true), d);
            if d > Duration::from_secs(10 * 365 * 24 * 3600) {
                assert_eq!(config.validate().unwrap_err().field(), field, "{d:?}");
            } else {
                assert!(config.validate().is_ok(), "{field} = {d:?}");
            }
            configs.push(config);
        }
    }
    // `new` clamps: every call works, nothing panics.
    for config in configs {
        let label = format!("{config:?}");
        let fx = Fixture::start(config).await;
        let name = fx.emu.start_task(
            "p",
            TaskSpec::default()
                .with_work(Duration::MAX)
                .with_queue(Duration::MAX)
                .with_retries(u32::MAX),
        );
        let short = fx
            .emu
            .start_task("p", TaskSpec::default().with_work(Duration::from_millis(1)));
        fx.emu.advance(Duration::MAX);
        fx.emu.advance(Duration::from_secs(1));
        let mut grpc = fx.grpc().await;
        for n in [&name, &short] {
            let _ = grpc
                .get_operation(GetOperationRequest { name: n.clone() })
                .await;
            let _ = grpc
                .cancel_operation(CancelOperationRequest { name: n.clone() })
                .await;
            // No timeout: the (clamped) max_wait applies; the operation ends at once after a
            // cancel, or the wait is cut short by the call's own deadline.
            let mut req = tonic::Request::new(WaitOperationRequest {
                name: n.clone(),
                timeout: None,
            });
            req.set_timeout(Duration::from_millis(20));
            let _ = grpc.wait_operation(req).await;
        }
        let list = grpc
            .list_operations(ListOperationsRequest {
                name: "projects/p".into(),
                ..Default::default()
            })
            .await;
        if let Ok(list) = list {
            assert!(list.into_inner().operations.len() <= 2, "{label}");
        }
        fx.emu.advance(Duration::from_secs(1));
        fx.handle.shutdown().await;
    }
}
