//! The client's scenario suite: one set of scenarios, run over both transports against the
//! emulator served on a real socket (127.0.0.1:0).
//!
//! The emulator is served through [`Recorder`], a thin server-side wrapper that records the
//! method, name and headers of every request that reaches the service, so scenarios can prove
//! what was (and was not) sent.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eeops::client::{
    CancelOutcome, Client, ClientBuilder, ListOptions, OperationExt, Outcome, RetryPolicy,
    Transport, WaitOptions,
};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::operations_server::Operations as ServerOperations;
use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use eeops::server::ServerHandle;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskOutcome, TaskSpec};
use eeops::stub::CallOptions;
use eeops::{ErrorKind, Result};
use futures::TryStreamExt as _;
use tonic::{Request, Response, Status};

// ---------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------

/// One request as the service saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: &'static str,
    name: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The emulator, recording every request that reaches it.
#[derive(Clone)]
struct Recorder {
    emu: Emulator,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn record<T>(&self, method: &'static str, name: &str, request: &Request<T>) {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.seen.lock().unwrap().push(Seen {
            method,
            name: name.to_owned(),
            headers,
        });
    }
}

#[tonic::async_trait]
impl ServerOperations for Recorder {
    async fn list_operations(
        &self,
        request: Request<ListOperationsRequest>,
    ) -> std::result::Result<Response<ListOperationsResponse>, Status> {
        self.record("list", &request.get_ref().name.clone(), &request);
        ServerOperations::list_operations(&self.emu, request).await
    }

    async fn get_operation(
        &self,
        request: Request<GetOperationRequest>,
    ) -> std::result::Result<Response<Operation>, Status> {
        self.record("get", &request.get_ref().name.clone(), &request);
        ServerOperations::get_operation(&self.emu, request).await
    }

    async fn delete_operation(
        &self,
        request: Request<DeleteOperationRequest>,
    ) -> std::result::Result<Response<()>, Status> {
        self.record("delete", &request.get_ref().name.clone(), &request);
        ServerOperations::delete_operation(&self.emu, request).await
    }

    async fn cancel_operation(
        &self,
        request: Request<CancelOperationRequest>,
    ) -> std::result::Result<Response<()>, Status> {
        self.record("cancel", &request.get_ref().name.clone(), &request);
        ServerOperations::cancel_operation(&self.emu, request).await
    }

    async fn wait_operation(
        &self,
        request: Request<WaitOperationRequest>,
    ) -> std::result::Result<Response<Operation>, Status> {
        self.record("wait", &request.get_ref().name.clone(), &request);
        ServerOperations::wait_operation(&self.emu, request).await
    }
}

/// An emulator served on a local port, and the requests it saw.
struct Env {
    emu: Emulator,
    recorder: Recorder,
    server: ServerHandle,
    transport: Transport,
}

/// A real-time emulator that moves fast: tasks queue for 20 ms, cancels take 20 ms.
fn fast_config() -> EmulatorConfig {
    EmulatorConfig::default()
        .with_tick(Duration::from_millis(5))
        .with_cancel_delay(Duration::from_millis(20))
}

/// A task that finishes quickly on [`fast_config`].
fn quick() -> TaskSpec {
    TaskSpec::default()
        .with_queue(Duration::from_millis(20))
        .with_work(Duration::from_millis(150))
}

/// A task that runs far longer than any test.
fn long() -> TaskSpec {
    TaskSpec::default()
        .with_start_running(true)
        .with_work(Duration::from_secs(3600))
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(40)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(20))
        .with_time_limit(Some(Duration::from_secs(20)))
        .with_attempt_timeout(Some(Duration::from_secs(10)))
}

fn fast_wait(timeout: Duration) -> WaitOptions {
    WaitOptions::default()
        .with_timeout(timeout)
        .with_poll_interval(Duration::from_millis(10), Duration::from_millis(50))
        .with_server_wait(Duration::from_secs(2))
}

impl Env {
    async fn new(config: EmulatorConfig, transport: Transport) -> Env {
        let emu = Emulator::new(config);
        let recorder = Recorder {
            emu: emu.clone(),
            seen: Arc::default(),
        };
        let server = eeops::server::serve(recorder.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Env {
            emu,
            recorder,
            server,
            transport,
        }
    }

    fn builder(&self) -> ClientBuilder {
        Client::builder()
            .endpoint(format!("http://{}", self.server.local_addr()))
            .transport(self.transport)
            .retry_policy(fast_retries())
    }

    async fn client(&self) -> Client {
        self.builder().build().await.unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.recorder.seen.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        self.recorder.seen.lock().unwrap().len()
    }

    async fn stop(self) {
        self.server.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------------------

/// get, list, cancel, wait, delete on a few operations; the headers every request carries.
async fn every_method(t: Transport) {
    let env = Env::new(fast_config(), t).await;
    let client = env
        .builder()
        .quota_project("billing-project")
        .user_agent("scenario/1.0")
        .build()
        .await
        .unwrap();
    let running = env
        .emu
        .start_task("p", long().with_description("the long one"));
    let finishing = env.emu.start_task("p", quick());
    let elsewhere = env.emu.start_task("other", quick());

    // get, with typed metadata
    let op = client.get(&running).await.unwrap();
    assert_eq!(op.name, running);
    assert!(!op.done);
    let md = op.metadata().expect("Earth Engine metadata decodes");
    assert_eq!(md.description, "the long one");
    assert_eq!(md.r#type, "EXPORT_IMAGE");
    assert!(
        matches!(md.state(), State::Running | State::Pending),
        "{md:?}"
    );
    assert!(md.create_time.is_some());

    // list: one project only
    let listed: Vec<Operation> = client.list("projects/p").try_collect().await.unwrap();
    let names: HashSet<&str> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, HashSet::from([running.as_str(), finishing.as_str()]));
    assert!(!names.contains(elsewhere.as_str()));

    // wait for the quick one
    let done = client
        .wait(&finishing, fast_wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(done.done);
    assert!(matches!(done.outcome(), Outcome::Succeeded(Some(_))));
    assert_eq!(done.state(), Some(State::Succeeded));

    // cancel, then wait: cancelled, and still there
    client.cancel(&running).await.unwrap();
    let cancelled = client
        .wait(&running, fast_wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(matches!(cancelled.outcome(), Outcome::Cancelled(s) if s.code == 1));
    assert_eq!(cancelled.state(), Some(State::Cancelled));
    assert!(client.get(&running).await.is_ok());
    // A second cancel of a finished operation changes nothing.
    client.cancel(&running).await.unwrap();
    assert_eq!(env.emu.effects(&running).cancels_applied, 1);

    // delete, then it is gone; a first-attempt NOT_FOUND is an error
    client.delete(&running).await.unwrap();
    assert!(client.get(&running).await.unwrap_err().is_not_found());
    let again = client.delete(&running).await.unwrap_err();
    assert!(again.is_not_found(), "{again}");
    assert_eq!(env.emu.effects(&running).deletes_applied, 1);

    // Every request named its operation and carried the identifying headers.
    let seen = env.seen();
    assert!(seen.len() >= 8);
    for s in &seen {
        let params = s.header("x-goog-request-params").unwrap_or_default();
        assert_eq!(
            params,
            format!("name={}", s.name.replace('/', "%2F")),
            "{s:?}"
        );
        let api_client = s.header("x-goog-api-client").unwrap_or_default();
        assert!(api_client.starts_with("gl-rust/"), "{s:?}");
        assert!(api_client.contains(" eeops/"), "{s:?}");
        assert_eq!(
            s.header("x-goog-user-project"),
            Some("billing-project"),
            "{s:?}"
        );
        assert!(
            s.header("user-agent")
                .unwrap_or_default()
                .starts_with("scenario/1.0 eeops/"),
            "{s:?}"
        );
        // Loopback endpoint, no credentials set: anonymous.
        assert_eq!(s.header("authorization"), None);
        // And the transport is the one asked for.
        let grpc = s
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/grpc"));
        assert_eq!(grpc, t == Transport::Grpc, "{s:?}");
    }
    env.stop().await;
}

/// The outcomes of cancel_and_confirm.
async fn cancel_outcomes(t: Transport) {
    let opts = || fast_wait(Duration::from_secs(10));

    // Cancelled.
    let env = Env::new(fast_config(), t).await;
    let client = env.client().await;
    let name = env.emu.start_task("p", long());
    match client.cancel_and_confirm(&name, opts()).await.unwrap() {
        CancelOutcome::Cancelled(op) => {
            assert!(op.done);
            assert_eq!(op.error().map(|s| s.code), Some(1));
        }
        other => panic!("{other:?}"),
    }
    // Already finished: completed anyway, and failed anyway.
    let ok = env.emu.start_task("p", quick());
    let failing = env
        .emu
        .start_task("p", quick().with_outcome(TaskOutcome::Fail));
    client.wait(&ok, opts()).await.unwrap();
    client.wait(&failing, opts()).await.unwrap();
    let outcome = client.cancel_and_confirm(&ok, opts()).await.unwrap();
    assert!(
        matches!(outcome, CancelOutcome::CompletedAnyway(_)),
        "{outcome:?}"
    );
    let outcome = client.cancel_and_confirm(&failing, opts()).await.unwrap();
    match outcome {
        CancelOutcome::FailedAnyway(op) => assert_ne!(op.error().map(|s| s.code), Some(1)),
        other => panic!("{other:?}"),
    }
    // Unknown operation: the cancel's NOT_FOUND is an error.
    let err = client
        .cancel_and_confirm("projects/p/operations/NOSUCHOPERATION", opts())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    env.stop().await;

    // Completed despite the cancel.
    let env = Env::new(fast_config().with_complete_despite_cancel(1.0), t).await;
    let client = env.client().await;
    let name = env
        .emu
        .start_task("p", quick().with_work(Duration::from_millis(300)));
    match client.cancel_and_confirm(&name, opts()).await.unwrap() {
        CancelOutcome::CompletedAnyway(op) => {
            assert!(matches!(op.outcome(), Outcome::Succeeded(Some(_))));
        }
        other => panic!("{other:?}"),
    }
    // Still running at the deadline: the last snapshot comes back.
    let slow = env.emu.start_task("p", long());
    match client
        .cancel_and_confirm(&slow, fast_wait(Duration::from_millis(300)))
        .await
        .unwrap()
    {
        CancelOutcome::StillRunning(op) => {
            assert!(!op.done);
            assert_eq!(op.state(), Some(State::Cancelling));
        }
        other => panic!("{other:?}"),
    }
    env.stop().await;

    // The server does not support cancel.
    let env = Env::new(fast_config().with_cancel_unsupported(true), t).await;
    let client = env.client().await;
    let name = env.emu.start_task("p", long());
    match client.cancel_and_confirm(&name, opts()).await.unwrap() {
        CancelOutcome::Unimplemented { error, operation } => {
            assert!(error.is_unimplemented());
            assert_eq!(error.http_status(), Some(501));
            assert!(!operation.unwrap().done);
        }
        other => panic!("{other:?}"),
    }
    assert!(client.cancel(&name).await.unwrap_err().is_unimplemented());
    // UNIMPLEMENTED is not retried: one request per cancel.
    let cancels = env.seen().iter().filter(|s| s.method == "cancel").count();
    assert_eq!(cancels, 2);
    assert_eq!(env.emu.effects(&name).cancels_applied, 0);
    env.stop().await;
}

/// 1,000 operations, every one listed exactly once across pages; filters and page sizes.
async fn pagination(t: Transport) {
    let env = Env::new(EmulatorConfig::default().with_manual_clock(true), t).await;
    let client = env.client().await;
    let mut expected = HashSet::new();
    for i in 0..1000 {
        let spec = if i % 4 == 0 { quick() } else { long() };
        expected.insert(env.emu.start_task("big", spec));
    }
    env.emu.start_task("small", quick());
    env.emu.advance(Duration::from_secs(1)); // the quick quarter finishes

    for page_size in [None, Some(1000), Some(7), Some(500)] {
        let before = env.requests();
        let mut opts = ListOptions::default();
        if let Some(n) = page_size {
            opts = opts.with_page_size(n);
        }
        let ops: Vec<Operation> = client
            .list_with("projects/big", opts)
            .try_collect()
            .await
            .unwrap();
        let names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), 1000, "page size {page_size:?}");
        assert_eq!(unique.len(), 1000);
        assert!(unique.iter().all(|n| expected.contains(*n)));
        // The emulator caps pages at 500 and defaults to 50.
        let pages = env.requests() - before;
        let per_page = page_size.unwrap_or(50).min(500) as usize;
        assert_eq!(
            pages,
            1000usize.div_ceil(per_page),
            "page size {page_size:?}"
        );
    }

    // A bare project id and the default project work too.
    for collection in ["big", "projects/big/operations"] {
        let n = client
            .list(collection)
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .len();
        assert_eq!(n, 1000, "{collection}");
    }
    let with_project = env.builder().project("small").build().await.unwrap();
    let n = with_project
        .list("")
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    assert_eq!(n, 1);

    // Filtered: the server applies it on every page.
    let done: Vec<Operation> = client
        .list_with(
            "projects/big",
            ListOptions::default()
                .with_filter("done = true")
                .with_page_size(100),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(done.len(), 250);
    assert!(done.iter().all(|o| o.done));

    // Pages as the server sent them.
    let pages: Vec<ListOperationsResponse> = client
        .list_pages("projects/big", ListOptions::default().with_page_size(300))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 4);
    assert!(pages.last().unwrap().next_page_token.is_empty());
    env.stop().await;
}

/// A stub in front of the real transport whose WaitOperation answers UNIMPLEMENTED, as
/// servers without WaitOperation do.
#[derive(Debug)]
struct NoWait(Arc<dyn eeops::stub::dynamic::Operations>);

impl eeops::stub::Operations for NoWait {
    async fn get_operation(&self, r: GetOperationRequest, o: CallOptions) -> Result<Operation> {
        self.0.get_operation(r, o).await
    }
    async fn list_operations(
        &self,
        r: ListOperationsRequest,
        o: CallOptions,
    ) -> Result<ListOperationsResponse> {
        self.0.list_operations(r, o).await
    }
    async fn cancel_operation(&self, r: CancelOperationRequest, o: CallOptions) -> Result<()> {
        self.0.cancel_operation(r, o).await
    }
    async fn delete_operation(&self, r: DeleteOperationRequest, o: CallOptions) -> Result<()> {
        self.0.delete_operation(r, o).await
    }
    // wait_operation: the trait's default answers UNIMPLEMENTED.
}

/// wait with WaitOperation, and by polling when the server lacks it; progress snapshots.
async fn waiting(t: Transport) {
    let env = Env::new(fast_config(), t).await;
    let client = env.client().await;
    assert_eq!(client.supports_wait(), None);

    // WaitOperation.
    let name = env
        .emu
        .start_task("p", quick().with_work(Duration::from_millis(400)));
    let mut snapshots = Vec::new();
    let op = client
        .wait_with_progress(&name, fast_wait(Duration::from_secs(10)), |op| {
            snapshots.push(op.clone())
        })
        .await
        .unwrap();
    assert!(op.done);
    assert_eq!(client.supports_wait(), Some(true));
    assert_eq!(snapshots.last(), Some(&op));
    assert!(snapshots.len() >= 2, "the first state, then the final one");
    let seen = env.seen();
    assert!(seen.iter().any(|s| s.method == "wait" && s.name == name));

    // Polling: the server (a stub in front of the real transport) lacks WaitOperation.
    let polling = env.builder().build_with_stub(NoWait(client.stub()));
    let name = env
        .emu
        .start_task("p", quick().with_work(Duration::from_millis(400)));
    let before = env.seen().len();
    let mut progress = Vec::new();
    let op = polling
        .wait_with_progress(&name, fast_wait(Duration::from_secs(10)), |op| {
            progress.push(op.progress().unwrap_or_default())
        })
        .await
        .unwrap();
    assert!(op.done);
    assert_eq!(polling.supports_wait(), Some(false));
    let gets = env.seen()[before..]
        .iter()
        .filter(|s| s.method == "get")
        .count();
    assert!(gets >= 3, "polled {gets} times");
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress goes up: {progress:?}"
    );
    assert_eq!(progress.last(), Some(&1.0));
    // Remembered: the next wait does not ask WaitOperation again (NoWait would answer it
    // locally anyway; the flag is what matters).
    let again = env.emu.start_task("p", quick());
    polling
        .wait(&again, fast_wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(polling.supports_wait(), Some(false));

    // The snapshot stream ends with the done operation.
    let name = env.emu.start_task("p", quick());
    let all: Vec<Operation> = client
        .watch(&name, fast_wait(Duration::from_secs(10)))
        .try_collect()
        .await
        .unwrap();
    assert!(all.last().unwrap().done);
    assert!(all[..all.len() - 1].iter().all(|o| !o.done));
    env.stop().await;
}

/// Under injected UNAVAILABLE answers (half of them after the call's effect was applied),
/// every call eventually succeeds and no effect is applied twice.
async fn retries(t: Transport) {
    let config = fast_config()
        .with_unavailable_rate(0.5)
        .with_unavailable_after_apply(true)
        .with_rng_seed(4242);
    let env = Env::new(config, t).await;
    let client = env.client().await;
    let names: Vec<String> = (0..12).map(|_| env.emu.start_task("p", long())).collect();

    for name in &names {
        let op = client.get(name).await.unwrap();
        assert_eq!(&op.name, name);
    }
    let listed: Vec<Operation> = client
        .list_with("projects/p", ListOptions::default().with_page_size(5))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), names.len());

    let results = client.cancel_many(&names, 4).await;
    assert_eq!(results.len(), names.len());
    for ((got, result), want) in results.iter().zip(&names) {
        assert_eq!(got, want);
        result.as_ref().unwrap();
    }
    for name in &names {
        let op = client
            .wait(name, fast_wait(Duration::from_secs(10)))
            .await
            .unwrap();
        assert!(matches!(op.outcome(), Outcome::Cancelled(_)));
        // A retried delete that finds the operation gone (its first attempt deleted it and
        // the answer was lost) counts as done.
        client.delete(name).await.unwrap();
        let effects = env.emu.effects(name);
        assert_eq!(effects.cancels_applied, 1, "{name}");
        assert_eq!(effects.deletes_applied, 1, "{name}");
        assert_eq!(effects.completions, 1, "{name}");
    }
    assert!(env.emu.is_empty());
    // Faults did happen: more requests than calls.
    assert!(
        env.requests() > names.len() * 4,
        "{} requests",
        env.requests()
    );

    // Without retries, the same server fails some calls.
    let fragile = env
        .builder()
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .await
        .unwrap();
    let mut failures = 0;
    for _ in 0..20 {
        if let Err(e) = fragile.get("projects/p/operations/GONE").await {
            if e.is_retryable() {
                failures += 1;
            } else {
                assert!(e.is_not_found(), "{e}");
            }
        }
    }
    assert!(failures > 0);
    env.stop().await;
}

/// Per-attempt and overall deadlines hold.
async fn deadlines(t: Transport) {
    // Every answer takes 2 s; the client gives each attempt 200 ms.
    let env = Env::new(fast_config().with_latency(Duration::from_secs(2)), t).await;
    let name = env.emu.start_task("p", long());
    let client = env
        .builder()
        .retry_policy(
            RetryPolicy::default()
                .with_attempt_timeout(Some(Duration::from_millis(200)))
                .with_time_limit(Some(Duration::from_secs(1))),
        )
        .build()
        .await
        .unwrap();
    let start = Instant::now();
    let err = client.get(&name).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    env.stop().await;

    // wait gives up at its deadline, with a timeout that says where the operation was.
    let env = Env::new(fast_config(), t).await;
    let client = env.client().await;
    let name = env.emu.start_task("p", long());
    let start = Instant::now();
    let err = client
        .wait(&name, fast_wait(Duration::from_millis(400)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.message().contains(&name), "{err}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // The same by polling.
    let polling = env.builder().build_with_stub(NoWait(client.stub()));
    let start = Instant::now();
    let err = polling
        .wait(&name, fast_wait(Duration::from_millis(400)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    env.stop().await;
}

/// Names are checked before anything is sent, and no name can change the request path.
async fn names(t: Transport) {
    let env = Env::new(fast_config(), t).await;
    let client = env.client().await;
    let bad = [
        "",
        "ABC",
        "operations/ABC",
        "projects//operations/ABC",
        "projects/p/operations/",
        "projects/p/operations",
        "projects/p/operations/a//b",
        "projects/p/operations/a/../b",
        "projects/../operations/x",
        "projects/p/tasks/ABC",
    ];
    for name in bad {
        for err in [
            client.get(name).await.unwrap_err(),
            client.cancel(name).await.unwrap_err(),
            client.delete(name).await.unwrap_err(),
            client.wait(name, Duration::from_secs(1)).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{name:?}: {err}");
            assert!(
                err.message()
                    .contains("projects/{project}/operations/{operation}"),
                "{name:?}: {err}"
            );
        }
        assert!(matches!(
            client.cancel_and_confirm(name, Duration::from_secs(1)).await,
            Err(e) if e.is_invalid_request()
        ));
    }
    for collection in ["projects/a/b", "folders/x", "projects/", "", "projects/.."] {
        let err = client
            .list(collection)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(err.is_invalid_request(), "{collection:?}: {err}");
    }
    let results = client.cancel_many(bad, 3).await;
    assert!(
        results
            .iter()
            .all(|(_, r)| matches!(r, Err(e) if e.is_invalid_request()))
    );
    if t == Transport::Rest {
        // The REST transport itself refuses names that do not fit the binding (transcoding
        // checks them before any URL is built), even when called directly.
        let stub = client.stub();
        for name in ["projects/p", "projects/p/operations/a//b", "x/../../admin"] {
            let err = stub
                .get_operation(
                    GetOperationRequest { name: name.into() },
                    CallOptions::default(),
                )
                .await
                .unwrap_err();
            assert!(err.is_invalid_request(), "{name}: {err}");
            assert!(
                err.message()
                    .contains("projects/{project}/operations/{operation}"),
                "{err}"
            );
        }
    }
    assert_eq!(
        env.requests(),
        0,
        "nothing reached the server: {:?}",
        env.seen()
    );

    // Bare task ids need a default project.
    let with_project = env.builder().project("p").build().await.unwrap();
    let name = env.emu.start_task("p", long());
    let id = name.rsplit('/').next().unwrap();
    assert_eq!(with_project.get(id).await.unwrap().name, name);

    // Odd but valid names reach the server intact, whatever their characters.
    for odd in [
        "projects/p/operations/a?alt=json",
        "projects/p/operations/a#frag",
        "projects/p/operations/a%2F..%2Fb",
        "projects/p/operations/a b:cancel",
        "projects/p/operations/x/y:wait",
        "projects/p/operations/ünïcødé",
    ] {
        let before = env.requests();
        let err = client.get(odd).await.unwrap_err();
        assert!(err.is_not_found(), "{odd}: {err}");
        let seen = env.seen();
        assert_eq!(seen.len(), before + 1, "{odd}");
        assert_eq!(seen[before].method, "get");
        assert_eq!(seen[before].name, odd);
    }
    env.stop().await;
}

/// cancel_many: order preserved, one outcome per name, bounded concurrency.
async fn bulk(t: Transport) {
    let env = Env::new(fast_config().with_latency(Duration::from_millis(30)), t).await;
    let client = env.client().await;
    let mut names: Vec<String> = (0..40).map(|_| env.emu.start_task("p", long())).collect();
    names.insert(7, "projects/p/operations/UNKNOWN".into());
    names.insert(20, "not a name".into());
    let start = Instant::now();
    let results = client.cancel_many(&names, 8).await;
    let took = start.elapsed();
    assert_eq!(results.len(), names.len());
    for (i, ((got, result), want)) in results.iter().zip(&names).enumerate() {
        assert_eq!(got, want);
        match i {
            7 => assert!(result.as_ref().unwrap_err().is_not_found()),
            20 => assert!(result.as_ref().unwrap_err().is_invalid_request()),
            _ => {
                result.as_ref().unwrap();
                assert_eq!(env.emu.effects(want).cancels_applied, 1);
            }
        }
    }
    // 41 requests of 30 ms each, 8 at a time: well under the serial 1.2 s.
    assert!(took < Duration::from_millis(1000), "{took:?}");
    env.stop().await;
}

async fn run_suite(t: Transport) {
    every_method(t).await;
    cancel_outcomes(t).await;
    pagination(t).await;
    waiting(t).await;
    retries(t).await;
    deadlines(t).await;
    names(t).await;
    bulk(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest() {
    run_suite(Transport::Rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc() {
    run_suite(Transport::Grpc).await;
}

/// The REST transport with the generic `operations/**` bindings (api version ""), for
/// servers other than Earth Engine: Earth Engine names do not fit them and are refused by
/// transcoding before anything is sent; WaitOperation has no generic binding, so waiting
/// polls.
#[tokio::test]
async fn generic_bindings() {
    let env = Env::new(fast_config(), Transport::Rest).await;
    let client = env.builder().api_version("").build().await.unwrap();
    let err = client.get("projects/p/operations/A").await.unwrap_err();
    assert!(err.is_invalid_request(), "{err}");
    assert!(err.message().contains("operations/"), "{err}");
    assert_eq!(env.requests(), 0);
    // A generic name goes out on the generic path; this server refuses it as a name.
    let err = client.get("operations/A").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Service, "{err}");
    let seen = env.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].name, "operations/A");
    env.stop().await;
}

/// Credentials the caller supplies: a bearer token from a provider of our own.
#[derive(Debug)]
struct FixedToken {
    token: Option<&'static str>,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl google_cloud_auth::credentials::CredentialsProvider for FixedToken {
    async fn headers(
        &self,
        _: http::Extensions,
    ) -> std::result::Result<
        google_cloud_auth::credentials::CacheableResource<http::HeaderMap>,
        google_cloud_auth::errors::CredentialsError,
    > {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Some(token) = self.token else {
            return Err(google_cloud_auth::errors::CredentialsError::from_msg(
                false,
                "the token service said no",
            ));
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        Ok(google_cloud_auth::credentials::CacheableResource::New {
            entity_tag: google_cloud_auth::credentials::EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}

/// Both transports take their headers from the same credentials; tokens stay out of Debug
/// output and errors; a credentials failure sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplied_credentials() {
    for t in [Transport::Rest, Transport::Grpc] {
        let env = Env::new(fast_config(), t).await;
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let creds = eeops::client::Credentials::from(FixedToken {
            token: Some("s3cr3t-t0ken"),
            calls: calls.clone(),
        });
        let builder = env.builder().credentials(creds).quota_project("q");
        assert!(!format!("{builder:?}").contains("s3cr3t"));
        let client = builder.build().await.unwrap();
        assert!(!format!("{client:?}").contains("s3cr3t"));
        let name = env.emu.start_task("p", long());
        client.get(&name).await.unwrap();
        let seen = env.seen();
        assert_eq!(
            seen[0].header("authorization"),
            Some("Bearer s3cr3t-t0ken"),
            "{t:?}"
        );
        assert_eq!(seen[0].header("x-goog-user-project"), Some("q"), "{t:?}");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let failing = env
            .builder()
            .credentials(eeops::client::Credentials::from(FixedToken {
                token: None,
                calls: calls.clone(),
            }))
            .build()
            .await
            .unwrap();
        let err = failing.cancel(&name).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        assert!(
            err.to_string().contains("the token service said no"),
            "{err}"
        );
        assert_eq!(env.requests(), 1, "{t:?}: nothing sent without credentials");
        env.stop().await;
    }
}

/// `EEOPS_EMULATOR_HOST` points a client at the emulator (anonymous, plaintext), on either
/// transport; the project variables give the default project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_from_the_environment() {
    for (transport, name) in [(Transport::Rest, "rest"), (Transport::Grpc, "GRPC")] {
        let env = Env::new(fast_config(), transport).await;
        let addr = env.server.local_addr().to_string();
        let client = ClientBuilder::from_env_with(|key| match key {
            "EEOPS_EMULATOR_HOST" => Some(addr.clone()),
            "EEOPS_TRANSPORT" => Some(name.into()),
            "GOOGLE_CLOUD_PROJECT" => Some("fallback".into()),
            "EARTHENGINE_PROJECT" => Some("p".into()),
            _ => None,
        })
        .build()
        .await
        .unwrap();
        assert_eq!(client.project(), Some("p"));
        let op = env.emu.start_task("p", long());
        let id = op.rsplit('/').next().unwrap();
        client.cancel(id).await.unwrap();
        assert_eq!(env.emu.effects(&op).cancels_applied, 1);
        let seen = env.seen();
        assert_eq!(seen[0].header("authorization"), None);
        let grpc = seen[0]
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/grpc"));
        assert_eq!(grpc, transport == Transport::Grpc);
        env.stop().await;
    }
    let err = ClientBuilder::from_env_with(|key| {
        (key == "EEOPS_TRANSPORT").then(|| "carrier-pigeon".into())
    })
    .build()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("carrier-pigeon"), "{err}");
}
