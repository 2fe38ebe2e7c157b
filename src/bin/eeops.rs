//! `eeops`: for now only `eeops emulator` (the full CLI replaces this file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use eeops::server::emulator::{self, EmulatorConfig, RunOptions};

#[derive(Parser)]
#[command(
    name = "eeops",
    version,
    about = "Google long-running operations, Earth Engine style"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Earth Engine operations emulator (gRPC and REST on one port).
    Emulator(EmulatorArgs),
}

#[derive(clap::Args)]
struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Seed operations from a JSON file (an array of Operations or task specs).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Create this many demo tasks.
    #[arg(long, default_value_t = 0)]
    demo_tasks: usize,
    /// Project of the demo tasks.
    #[arg(long, default_value = "earthengine-legacy")]
    project: String,
    /// Answer every cancel with UNIMPLEMENTED (HTTP 501).
    #[arg(long)]
    cancel_unsupported: bool,
    /// Probability that an accepted cancel is ignored and the task succeeds anyway.
    #[arg(long, default_value_t = 0.0)]
    complete_despite_cancel: f64,
    /// Latency added to every call (e.g. 50ms).
    #[arg(long, value_parser = emulator::parse_duration, default_value = "0s")]
    latency: Duration,
    /// Probability of answering UNAVAILABLE (HTTP 503).
    #[arg(long, default_value_t = 0.0)]
    unavailable_rate: f64,
    /// Inject some UNAVAILABLE answers after the call's effect was applied.
    #[arg(long)]
    unavailable_after_apply: bool,
    /// How often time advances.
    #[arg(long, value_parser = emulator::parse_duration, default_value = "100ms")]
    tick: Duration,
    /// Simulated work per unit of time (2.0 runs tasks twice as fast).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Emulated time a cancel spends in CANCELLING.
    #[arg(long, value_parser = emulator::parse_duration, default_value = "500ms")]
    cancel_delay: Duration,
    /// Longest wait.
    #[arg(long, value_parser = emulator::parse_duration, default_value = "60s")]
    max_wait: Duration,
    /// Random seed.
    #[arg(long, default_value_t = 0x00ee_0b5e_ed00)]
    rng_seed: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Command::Emulator(a) = Cli::parse().command;
    let config = EmulatorConfig::default()
        .with_cancel_unsupported(a.cancel_unsupported)
        .with_complete_despite_cancel(a.complete_despite_cancel)
        .with_latency(a.latency)
        .with_unavailable_rate(a.unavailable_rate)
        .with_unavailable_after_apply(a.unavailable_after_apply)
        .with_tick(a.tick)
        .with_progress_per_tick(a.speed)
        .with_cancel_delay(a.cancel_delay)
        .with_max_wait(a.max_wait)
        .with_rng_seed(a.rng_seed);
    let options = RunOptions::default()
        .with_addr(a.addr)
        .with_demo_tasks(a.demo_tasks)
        .with_project(a.project);
    let options = match a.seed {
        Some(path) => options.with_seed(path),
        None => options,
    };
    match emulator::run(config, options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eeops emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
