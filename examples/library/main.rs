//! Google's Library example API, served and called with eeops.
//!
//! ```text
//! cargo run --example library -- serve --addr 127.0.0.1:0
//! cargo run --example library -- --endpoint http://127.0.0.1:PORT --transport grpc \
//!     call CreateShelf '{"shelf": {"theme": "poetry"}}'
//! cargo run --example library -- --endpoint http://127.0.0.1:PORT --transport rest \
//!     call ListShelves '{"pageSize": 10}'
//! ```
//!
//! `serve` prints `listening on http://ADDR` and serves gRPC, gRPC reflection and REST (gRPC
//! transcoding of the proto's `google.api.http` rules) on that port.
//! `call` sends one RPC (`GetShelf`, `LibraryService.GetShelf` or the full name) with a request
//! in proto3 JSON and prints the response in proto3 JSON; errors go to stderr as eeops' CLI
//! prints them (`error: METHOD: CODE (n): message`), with its exit codes (1 for an error the
//! service answered, 2 for bad usage or input, `INVALID_ARGUMENT` included, 3 for connection
//! problems, `UNAVAILABLE` included).

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[path = "mod.rs"]
mod library;

use library::call::Transport;

#[derive(Parser, Debug)]
#[command(
    name = "library",
    about = "Google's Library example API, served and called with eeops"
)]
struct Cli {
    /// The server to call.
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// The transport of `call`.
    #[arg(long, global = true, value_enum, default_value = "grpc")]
    transport: TransportArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum TransportArg {
    Grpc,
    Rest,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves an in-memory library until interrupted.
    Serve {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
    /// Calls one method and prints the response as proto3 JSON.
    Call {
        /// The method: `GetShelf`, `LibraryService.GetShelf` or its full name.
        method: String,
        /// The request in proto3 JSON.
        #[arg(default_value = "{}")]
        request: String,
    },
}

use library::call::exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { addr } => serve(addr).await,
            Command::Call { method, request } => {
                let transport = match cli.transport {
                    TransportArg::Grpc => Transport::Grpc,
                    TransportArg::Rest => Transport::Rest,
                };
                call(&cli.endpoint, transport, &method, &request).await
            }
        }
    })
}

async fn serve(addr: SocketAddr) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(exit::CONNECTION);
        }
    };
    let served = match library::serve::serve(library::store::Library::new(), listener).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot serve on {addr}: {e}");
            return ExitCode::from(exit::CONNECTION);
        }
    };
    println!("listening on {}", served.url());
    let _ = std::io::stdout().flush();
    tokio::select! {
        result = served.wait() => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                ExitCode::from(exit::FAILURE)
            }
        },
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

async fn call(endpoint: &str, transport: Transport, method: &str, request: &str) -> ExitCode {
    let outcome = library::call::run(endpoint, transport, method, request).await;
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    ExitCode::from(outcome.exit)
}
