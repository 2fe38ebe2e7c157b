//! The `google.longrunning.Operations` server trait, implemented by the emulator.

use std::time::Duration;

use rand::Rng as _;
use tonic::{Request, Response, Status};

use super::filter::Filter;
use super::{DEFAULT_PAGE_SIZE, Emulator, MAX_PAGE_SIZE};
use crate::pb::google::longrunning::operations_server::Operations;
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};

/// Where an injected UNAVAILABLE answer comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Before,
    After,
}

/// `name` as error messages quote it: whole up to 100 characters, otherwise its first 60 and
/// last 20 characters around an ellipsis (a 16 KiB name must not make a 16 KiB error, which
/// some gRPC clients refuse as too large metadata).
pub(crate) fn short_name(name: &str) -> std::borrow::Cow<'_, str> {
    const WHOLE: usize = 100;
    const HEAD: usize = 60;
    const TAIL: usize = 20;
    let count = name.chars().count();
    if count <= WHOLE {
        return name.into();
    }
    let head: String = name.chars().take(HEAD).collect();
    let tail: String = name.chars().skip(count - TAIL).collect();
    format!("{head}…{tail} ({} bytes)", name.len()).into()
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("Operation {} not found.", short_name(name)))
}

fn unavailable(when: &str) -> Status {
    Status::unavailable(format!(
        "The service is currently unavailable (injected by the eeops emulator {when})."
    ))
}

/// `projects/{p}/operations/{id}`, or `operations/{id}` (the generic form, see
/// [`Emulator::start_generic_task`]): checks the shape (a gRPC caller is not held to it by a
/// route).
fn check_name(name: &str) -> Result<(), Status> {
    if let Some(id) = name.strip_prefix("operations/")
        && !id.is_empty()
        && id
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
    {
        return Ok(());
    }
    name.parse::<crate::name::OperationName>()
        .map(|_| ())
        .map_err(|e| {
            Status::invalid_argument(format!(
                "invalid operation name `{}`: expected {}; {}",
                short_name(name),
                crate::name::EXPECTED_FORM,
                e.problem()
            ))
        })
}

/// The project a list covers: `projects/p`, `projects/p/operations`; `None` (every project)
/// for `operations` or empty.
fn list_scope(name: &str) -> Result<Option<String>, Status> {
    let trimmed = name.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "operations" {
        return Ok(None);
    }
    let rest = trimmed.strip_prefix("projects/").ok_or_else(|| {
        Status::invalid_argument(format!(
            "invalid list name `{}`: expected projects/{{project}}",
            short_name(name)
        ))
    })?;
    let project = rest.strip_suffix("/operations").unwrap_or(rest);
    if project.is_empty() || project.contains('/') {
        return Err(Status::invalid_argument(format!(
            "invalid list name `{}`: expected projects/{{project}}",
            short_name(name)
        )));
    }
    Ok(Some(project.to_owned()))
}

/// FNV-1a, to bind a page token to the list it came from.
fn fingerprint(scope: Option<&str>, filter: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in scope
        .unwrap_or("*")
        .bytes()
        .chain([0u8])
        .chain(filter.bytes())
    {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn encode_token(seq: u64, fp: u32) -> String {
    format!("{seq:016x}{fp:08x}")
}

fn decode_token(token: &str, fp: u32) -> Result<u64, Status> {
    let bad = || {
        Status::invalid_argument(format!(
            "invalid page token `{}` (tokens are only valid for the list they came from)",
            short_name(token)
        ))
    };
    if token.len() != 24 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let seq = u64::from_str_radix(&token[..16], 16).map_err(|_| bad())?;
    let got = u32::from_str_radix(&token[16..], 16).map_err(|_| bad())?;
    if got != fp {
        return Err(bad());
    }
    Ok(seq)
}

impl Emulator {
    /// The rate limit (for the project of `name`), latency, then maybe a fault: `Before`
    /// answers at once; `After` is answered after the effect.
    async fn enter(&self, name: &str) -> Result<Fault, Status> {
        if let Some(quotas) = &self.inner.quotas {
            quotas.admit(name)?;
        }
        let config = &self.inner.config;
        if !config.latency.is_zero() {
            tokio::time::sleep(config.latency).await;
        }
        if config.unavailable_rate <= 0.0 {
            return Ok(Fault::None);
        }
        let mut st = self.lock();
        let fault = if st.rng.random_bool(config.unavailable_rate.clamp(0.0, 1.0)) {
            if config.unavailable_after_apply && st.rng.random_bool(0.5) {
                Fault::After
            } else {
                Fault::Before
            }
        } else {
            Fault::None
        };
        drop(st);
        if fault == Fault::Before {
            return Err(unavailable("before applying the call"));
        }
        Ok(fault)
    }

    fn leave<T>(fault: Fault, value: T) -> Result<Response<T>, Status> {
        if fault == Fault::After {
            Err(unavailable("after applying the call"))
        } else {
            Ok(Response::new(value))
        }
    }

    fn do_cancel(&self, name: &str) -> Result<(), Status> {
        let config = &self.inner.config;
        if config.cancel_unsupported {
            return Err(Status::unimplemented(
                "Cancel is not supported by this server (eeops emulator: cancel_unsupported).",
            ));
        }
        check_name(name)?;
        let mut st = self.lock();
        let despite = config.complete_despite_cancel > 0.0
            && st.rng.random_bool(config.complete_despite_cancel);
        // Finished, or a cancel already under way: nothing changes, and the answer is OK.
        let accepted = st
            .cancel(name, despite, config.cancel_delay)
            .ok_or_else(|| not_found(name))?;
        drop(st);
        if accepted {
            // The operation's end moved: a wait on it must not sleep past it.
            self.wake_driver();
        }
        Ok(())
    }

    fn do_delete(&self, name: &str) -> Result<(), Status> {
        check_name(name)?;
        if self.lock().delete(name) {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }

    fn do_list(&self, req: &ListOperationsRequest) -> Result<ListOperationsResponse, Status> {
        if req.return_partial_success {
            return Err(Status::unimplemented(
                "returnPartialSuccess is not supported: Earth Engine documents no partial \
                 success for list (the operations proto's rule), and every project is reachable.",
            ));
        }
        let scope = list_scope(&req.name)?;
        let filter = Filter::parse(&req.filter).map_err(Status::invalid_argument)?;
        let page_size = match req.page_size {
            n if n < 0 => {
                return Err(Status::invalid_argument(format!(
                    "page_size must not be negative (got {n})"
                )));
            }
            0 => DEFAULT_PAGE_SIZE,
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let fp = fingerprint(scope.as_deref(), &req.filter);
        let before = if req.page_token.is_empty() {
            u64::MAX
        } else {
            decode_token(&req.page_token, fp)?
        };
        let st = self.lock();
        let now = st.now;
        let mut operations = Vec::with_capacity(page_size.min(64));
        let mut next_page_token = String::new();
        let candidates = st.newest_first(scope.as_deref(), before).filter(|e| {
            filter.is_empty()
                || filter.matches_parts(e.done_at(now), e.state_at(now), e.task_type())
        });
        let mut last = None;
        for entry in candidates {
            if operations.len() == page_size {
                // There is at least one more: resume after the last one returned.
                if let Some(seq) = last {
                    next_page_token = encode_token(seq, fp);
                }
                break;
            }
            last = Some(entry.seq);
            operations.push(entry.operation(now, st.epoch));
        }
        Ok(ListOperationsResponse {
            operations,
            next_page_token,
            unreachable: Vec::new(),
        })
    }

    async fn do_wait(&self, req: &WaitOperationRequest) -> Result<Operation, Status> {
        check_name(&req.name)?;
        let max = self.inner.config.max_wait;
        let timeout = match &req.timeout {
            None => max,
            Some(d) if d.seconds < 0 || d.nanos < 0 => {
                return Err(Status::invalid_argument("timeout must not be negative"));
            }
            Some(d) => {
                Duration::new(d.seconds as u64, d.nanos.clamp(0, 999_999_999) as u32).min(max)
            }
        };
        let now = tokio::time::Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or(now);
        loop {
            let mut rx = {
                let mut st = self.lock();
                let entry = st.get(&req.name).ok_or_else(|| not_found(&req.name))?;
                if entry.done_at(st.now) {
                    return Ok(entry.operation(st.now, st.epoch));
                }
                let seq = entry.seq;
                st.subscribe(seq)
            };
            self.wake_driver();
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The operation was deleted (or replaced) while waiting: look again.
                        tokio::task::yield_now().await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    let st = self.lock();
                    return st
                        .get(&req.name)
                        .map(|e| e.operation(st.now, st.epoch))
                        .ok_or_else(|| not_found(&req.name));
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Operations for Emulator {
    async fn list_operations(
        &self,
        request: Request<ListOperationsRequest>,
    ) -> Result<Response<ListOperationsResponse>, Status> {
        let fault = self.enter(&request.get_ref().name).await?;
        let list = self.do_list(request.get_ref())?;
        Self::leave(fault, list)
    }

    async fn get_operation(
        &self,
        request: Request<GetOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        let fault = self.enter(&request.get_ref().name).await?;
        let name = &request.get_ref().name;
        check_name(name)?;
        let op = self.operation(name).ok_or_else(|| not_found(name))?;
        Self::leave(fault, op)
    }

    async fn delete_operation(
        &self,
        request: Request<DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let fault = self.enter(&request.get_ref().name).await?;
        self.do_delete(&request.get_ref().name)?;
        Self::leave(fault, ())
    }

    async fn cancel_operation(
        &self,
        request: Request<CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        let fault = self.enter(&request.get_ref().name).await?;
        self.do_cancel(&request.get_ref().name)?;
        Self::leave(fault, ())
    }

    async fn wait_operation(
        &self,
        request: Request<WaitOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        let fault = self.enter(&request.get_ref().name).await?;
        let op = self.do_wait(request.get_ref()).await?;
        Self::leave(fault, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_list() {
        let fp = fingerprint(Some("p"), "done = true");
        let t = encode_token(42, fp);
        assert_eq!(decode_token(&t, fp).unwrap(), 42);
        assert!(decode_token(&t, fingerprint(Some("q"), "done = true")).is_err());
        assert!(decode_token("garbage", fp).is_err());
    }

    #[test]
    fn long_names_are_shortened_in_errors() {
        assert_eq!(
            short_name("projects/p/operations/X"),
            "projects/p/operations/X"
        );
        let long = format!("projects/p/operations/{}END", "é".repeat(16 * 1024));
        let short = short_name(&long);
        assert!(short.starts_with("projects/p/operations/é"), "{short}");
        assert!(short.contains("…") && short.contains("éEND ("), "{short}");
        assert!(short.chars().count() < 120, "{short}");
        let status = not_found(&long);
        assert!(status.message().len() < 300);
        let status =
            check_name(&format!("projects/p/operations/{}/", "x".repeat(20_000))).unwrap_err();
        assert!(status.message().len() < 400, "{}", status.message());
        assert!(status.message().contains("empty segment"));
    }

    #[test]
    fn list_scopes() {
        assert_eq!(list_scope("projects/p").unwrap().as_deref(), Some("p"));
        assert_eq!(
            list_scope("projects/p/operations").unwrap().as_deref(),
            Some("p")
        );
        assert_eq!(list_scope("operations").unwrap(), None);
        assert!(list_scope("projects/").is_err());
        assert!(list_scope("folders/x").is_err());
    }
}
