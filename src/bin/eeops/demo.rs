//! `eeops demo`: the emulator in-process, Earth Engine-like export tasks, and eeops managing
//! them over both transports. Needs no account and no network beyond loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Args;
use eeops::client::{CancelOutcome, Client, OperationExt, Transport, WaitOptions};
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskOutcome, TaskSpec};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::{self, outcome_label, task_id};
use crate::{Failure, exit};

/// `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many export tasks to start.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(6..=500))]
    pub tasks: u16,
    /// How much faster than real time the emulated tasks run.
    #[arg(long, default_value_t = 10.0)]
    pub speed: f64,
}

const PROJECT: &str = "eeops-demo";

/// Task shapes the demo draws from: type, description, emulated duration in seconds.
const TASKS: &[(&str, &str, u64)] = &[
    (
        "EXPORT_IMAGE",
        "Sentinel-2 median composite, Rhine basin",
        40,
    ),
    ("EXPORT_FEATURES", "Field boundaries to Cloud Storage", 25),
    ("EXPORT_IMAGE", "Landsat 8 NDVI 2024, Kenya", 55),
    ("EXPORT_VIDEO", "Glacier retreat timelapse 1985-2025", 45),
    ("INGEST_IMAGE", "Drone orthomosaic upload", 30),
    ("EXPORT_TILES", "Nightlights map tiles z0-8", 50),
    ("EXPORT_FEATURES", "Burned area polygons to BigQuery", 35),
    ("EXPORT_IMAGE", "SRTM slope, Andes", 20),
];

async fn client_for(addr: SocketAddr, transport: Transport) -> Result<Client, Failure> {
    Ok(Client::builder()
        .endpoint(format!("http://{addr}"))
        .transport(transport)
        .anonymous()
        .project(PROJECT)
        .build()
        .await?)
}

/// Runs the demo.
pub async fn run(a: DemoArgs) -> Result<u8, Failure> {
    let started = Instant::now();
    let emulator = Emulator::new(
        EmulatorConfig::default()
            .with_tick(Duration::from_millis(50))
            .with_progress_per_tick(a.speed.max(0.1)),
    );
    let handle = eeops::server::serve(emulator.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Failure {
            code: exit::CONNECTION,
            message: format!("cannot start the emulator: {e}"),
        })?;
    let addr = handle.local_addr();
    outln!("eeops demo: an Earth Engine emulator is serving gRPC and REST on http://{addr}\n");

    let n = usize::from(a.tasks);
    for i in 0..n {
        let (ty, description, secs) = TASKS[i % TASKS.len()];
        let spec = TaskSpec::default()
            .with_task_type(ty)
            .with_description(description)
            .with_work(Duration::from_secs(secs + (i as u64 * 7) % 20))
            .with_start_running(i % 3 != 2)
            .with_queue(Duration::from_secs(5))
            .with_outcome(if i % 7 == 6 {
                TaskOutcome::Fail
            } else {
                TaskOutcome::Succeed
            });
        emulator.start_task(PROJECT, spec);
    }
    outln!("Started {n} export tasks in projects/{PROJECT}.\n");

    let rest = client_for(addr, Transport::Rest).await?;
    let grpc = client_for(addr, Transport::Grpc).await?;

    outln!("$ eeops list            # over REST");
    let ops = collect(&rest).await?;
    out!("{}", output::table(&ops, false));

    // Cancel a third of them: half over REST, half over gRPC, each confirmed with GetOperation.
    let mut names: Vec<String> = ops.iter().map(|o| o.name.clone()).collect();
    names.sort();
    let third = (n / 3).max(2);
    let (to_cancel, rest_names) = names.split_at(third);
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let wait = WaitOptions::default()
        .with_timeout(Duration::from_secs(30))
        .with_poll_interval(Duration::from_millis(100), Duration::from_secs(1));
    outln!("\n$ eeops cancel --confirm ...   # alternating REST and gRPC, all at once");
    let cancels = to_cancel.iter().enumerate().map(|(i, name)| {
        let (client, via) = if i % 2 == 0 {
            (&rest, "REST")
        } else {
            (&grpc, "gRPC")
        };
        let wait = wait.clone();
        async move { (name, via, client.cancel_and_confirm(name, wait).await) }
    });
    for (name, via, outcome) in futures::future::join_all(cancels).await {
        let outcome = outcome?;
        let label = match &outcome {
            CancelOutcome::Cancelled(_) => "cancelled",
            CancelOutcome::CompletedAnyway(_) => "completed anyway",
            CancelOutcome::FailedAnyway(_) => "failed anyway",
            CancelOutcome::StillRunning(_) => "still running",
            _ => "cancel unsupported",
        };
        *outcomes.entry(label).or_default() += 1;
        let detail = outcome
            .operation()
            .and_then(output::outcome_detail)
            .unwrap_or_default();
        outln!("  [{via:>4}] {:<26} {label:<17} {detail}", task_id(name));
    }

    outln!(
        "\n$ eeops wait ...          # the other {} tasks, over gRPC",
        rest_names.len()
    );
    let bars = MultiProgress::new();
    let style =
        ProgressStyle::with_template("  {prefix:<26} {bar:30.green/white} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let waits = rest_names.iter().map(|name| {
        let bar = bars.add(
            ProgressBar::new(100)
                .with_style(style.clone())
                .with_prefix(task_id(name).to_owned()),
        );
        let grpc = grpc.clone();
        let options = WaitOptions::default()
            .with_timeout(Duration::from_secs(120))
            .with_poll_interval(Duration::from_millis(200), Duration::from_secs(1));
        async move {
            let r = grpc
                .wait_with_progress(name, options, |op| {
                    if let Some(p) = op.progress() {
                        bar.set_position((p.clamp(0.0, 1.0) * 100.0) as u64);
                    }
                    bar.set_message(output::state_label(op));
                })
                .await;
            bar.finish_and_clear();
            (name, r)
        }
    });
    for (name, r) in futures::future::join_all(waits).await {
        let op = r?;
        let label = match op.error() {
            None => "succeeded",
            Some(s) if s.code == 1 => "cancelled",
            Some(_) => "failed",
        };
        *outcomes.entry(label).or_default() += 1;
        outln!("  {:<26} {}", task_id(name), outcome_label(&op));
    }

    outln!(
        "\n$ eeops list            # afterwards; cancelled tasks are kept, done with error code 1"
    );
    let ops = collect(&rest).await?;
    out!("{}", output::table(&ops, false));

    let summary: Vec<String> = outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect();
    outln!(
        "\n{} tasks: {}. Took {:.1}s.",
        ops.len(),
        summary.join(", "),
        started.elapsed().as_secs_f64()
    );
    outln!(
        "Try it yourself: `eeops emulator --demo-tasks 20`, then EEOPS_EMULATOR_HOST=127.0.0.1:8080 eeops list --project eeops-demo"
    );
    handle.shutdown().await;
    Ok(exit::OK)
}

async fn collect(
    client: &Client,
) -> Result<Vec<eeops::pb::google::longrunning::Operation>, Failure> {
    use futures::TryStreamExt as _;
    let mut ops: Vec<_> = client
        .list(format!("projects/{PROJECT}"))
        .try_collect()
        .await?;
    ops.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ops)
}
