//! Seed operations from JSON: Operations as proto3 JSON, or simpler task specs.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value as Json;

use super::model::{At, CancelMark, Terminal, Timeline};
use super::store::{Given, Store};
use super::{SeedError, TaskOutcome, TaskSpec};
use crate::pb::google::earthengine::v1::OperationMetadata;
use crate::pb::google::earthengine::v1::operation_metadata::State;
use crate::pb::google::longrunning::{Operation, operation};
use crate::pb::google::rpc::{Code, Status};

/// One parsed seed item.
#[derive(Debug)]
pub(super) enum Item {
    /// A full operation, kept as given.
    Operation {
        project: String,
        op: Box<Operation>,
        meta: Box<OperationMetadata>,
    },
    /// A task spec with its starting point.
    Task {
        project: String,
        spec: Box<TaskSpec>,
        start: Start,
    },
}

/// Where a seeded task starts.
#[derive(Debug, Clone)]
pub(super) struct Start {
    state: State,
    progress: f64,
}

pub(super) fn parse(text: &str) -> Result<Vec<Item>, SeedError> {
    let value: Json =
        serde_json::from_str(text).map_err(|e| SeedError(format!("not JSON: {e}")))?;
    let items = match value {
        Json::Array(items) => items,
        Json::Object(mut map) if map.contains_key("operations") => match map.remove("operations") {
            Some(Json::Array(items)) => items,
            _ => return Err(SeedError("`operations` must be an array".into())),
        },
        _ => {
            return Err(SeedError(
                "expected an array of operations or task specs, or {\"operations\": [...]}".into(),
            ));
        }
    };
    let items: Vec<Item> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_item(item).map_err(|e| SeedError(format!("item {i}: {e}"))))
        .collect::<Result<_, _>>()?;
    // One name, one item: a second would silently replace the first.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let name = match item {
            Item::Operation { op, .. } => op.name.clone(),
            Item::Task { project, spec, .. } => match &spec.id {
                Some(id) => format!("projects/{project}/operations/{id}"),
                None => continue,
            },
        };
        if let Some(first) = seen.insert(name.clone(), i) {
            return Err(SeedError(format!(
                "items {first} and {i} both name `{}`",
                super::service::short_name(&name)
            )));
        }
    }
    Ok(items)
}

fn parse_item(item: Json) -> Result<Item, String> {
    if !item.is_object() {
        return Err("expected an object".into());
    }
    if item.get("name").is_some() {
        let mut item = item;
        crate::server::rest::wrapped_empty_any(&mut item);
        let bytes = serde_json::to_vec(&item).map_err(|e| e.to_string())?;
        let op: Operation = crate::json::from_json(&bytes).map_err(|e| e.to_string())?;
        let name: crate::name::OperationName = op.name.parse().map_err(|e| format!("{e}"))?;
        let meta = match &op.metadata {
            Some(any) if any.type_url == crate::pb::EE_METADATA_TYPE_URL => {
                <OperationMetadata as prost::Message>::decode(any.value.as_slice())
                    .map_err(|e| e.to_string())?
            }
            Some(any) => {
                return Err(format!(
                    "metadata must be {}, not {}",
                    crate::pb::EE_METADATA_TYPE_URL,
                    any.type_url
                ));
            }
            None => OperationMetadata::default(),
        };
        return Ok(Item::Operation {
            project: name.project().to_owned(),
            op: Box::new(op),
            meta: Box::new(meta),
        });
    }

    let str_of = |key: &str| item.get(key).and_then(Json::as_str);
    for key in [
        "project",
        "id",
        "type",
        "description",
        "work",
        "queue",
        "scriptUri",
    ] {
        if let Some(v) = item.get(key)
            && !v.is_string()
        {
            return Err(format!("`{key}` must be a string, not {v}"));
        }
    }
    let project = str_of("project")
        .ok_or("a task spec needs `project` (or give a full Operation with `name`)")?
        .to_owned();
    let mut spec = TaskSpec::default();
    if let Some(v) = str_of("id") {
        spec.id = Some(v.to_owned());
    }
    if let Some(v) = str_of("type") {
        v.clone_into(&mut spec.task_type);
    }
    if let Some(v) = str_of("description") {
        v.clone_into(&mut spec.description);
    }
    if let Some(v) = str_of("work") {
        spec.work = super::parse_duration(v).map_err(|e| format!("`work`: {e}"))?;
    }
    if let Some(v) = str_of("queue") {
        spec.queue = super::parse_duration(v).map_err(|e| format!("`queue`: {e}"))?;
    }
    if let Some(v) = item.get("priority") {
        spec.priority = v
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| format!("`priority` must be a whole number (32 bits), not {v}"))?;
    }
    if let Some(v) = str_of("scriptUri") {
        v.clone_into(&mut spec.script_uri);
    }
    if let Some(v) = item.get("retries") {
        spec.retries = v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("`retries` must be a whole number >= 0, not {v}"))?;
    }
    if let Some(Json::Array(uris)) = item.get("destinationUris") {
        spec.destination_uris = uris
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect();
    }
    match str_of("outcome").map(str::to_ascii_uppercase).as_deref() {
        None | Some("SUCCEED") | Some("SUCCEEDED") => {}
        Some("FAIL") | Some("FAILED") => spec.outcome = TaskOutcome::Fail,
        Some(other) => return Err(format!("unknown outcome `{other}` (SUCCEED or FAIL)")),
    }
    let state = match str_of("state") {
        None => State::Pending,
        Some(s) => State::from_str_name(&s.to_ascii_uppercase())
            .filter(|s| *s != State::Unspecified)
            .ok_or_else(|| format!("unknown state `{s}`"))?,
    };
    let error = item.get("error").map(|e| Status {
        code: e
            .get("code")
            .and_then(Json::as_i64)
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(Code::Internal as i32),
        message: e
            .get("message")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned(),
        details: Vec::new(),
    });
    if let Some(e) = &error {
        spec.failure_code = Code::try_from(e.code).unwrap_or(Code::Internal);
        spec.failure_message.clone_from(&e.message);
    }
    let progress = match item.get("progress") {
        None => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("`progress` must be a number from 0 to 1, not {v}"))?,
    };
    spec.check(&project)?;
    Ok(Item::Task {
        project,
        spec: Box::new(spec),
        start: Start { state, progress },
    })
}

pub(super) fn insert(st: &mut Store, config: &super::EmulatorConfig, item: Item) {
    match item {
        Item::Task {
            project,
            spec,
            start,
        } => {
            st.insert(config, &project, *spec, Some(start), None);
        }
        Item::Operation { project, op, meta } => {
            let id = op
                .name
                .rsplit_once("/operations/")
                .map(|(_, id)| id.to_owned())
                .unwrap_or_default();
            let state = State::try_from(meta.state).unwrap_or(State::Unspecified);
            let start = Start {
                state: match (op.done, state, &op.result) {
                    (true, State::Succeeded | State::Failed | State::Cancelled, _) => state,
                    (true, _, Some(operation::Result::Error(e))) if e.code == 1 => State::Cancelled,
                    (true, _, Some(operation::Result::Error(_))) => State::Failed,
                    (true, _, _) => State::Succeeded,
                    (false, State::Unspecified, _) => State::Pending,
                    (false, s, _) => s,
                },
                progress: if meta.progress.is_finite() {
                    meta.progress.clamp(0.0, 1.0)
                } else {
                    0.0
                },
            };
            let spec = TaskSpec {
                task_type: meta.r#type.clone(),
                description: meta.description.clone(),
                priority: meta.priority,
                id: Some(id),
                ..TaskSpec::default()
            };
            // Kept exactly as given, under the emulator's bookkeeping.
            let given = Given {
                meta: *meta,
                result: if op.done { op.result.clone() } else { None },
                at: st.now,
            };
            st.insert(config, &project, spec, Some(start), Some(Box::new(given)));
        }
    }
}

impl Start {
    /// Puts a new timeline at this starting point (the time is `now`). Returns whether the
    /// operation still takes part in queueing (it is not done).
    pub(super) fn apply(&self, tl: &mut Timeline, now: At, cancel_delay: Duration) -> bool {
        tl.base = tl.work.mul_f64(self.progress.clamp(0.0, 1.0));
        let terminal = match self.state {
            State::Pending => return true,
            State::Running => {
                tl.eligible = now;
                tl.started = Some(now);
                return true;
            }
            State::Cancelling => {
                tl.eligible = now;
                tl.started = Some(now);
                tl.cancel = CancelMark::Accepted {
                    at: now,
                    ends: now.saturating_add(cancel_delay),
                };
                return true;
            }
            State::Succeeded => Terminal::Succeeded,
            State::Cancelled => Terminal::Cancelled,
            State::Failed | State::Unspecified => Terminal::Failed,
        };
        tl.eligible = now;
        tl.started = Some(now);
        tl.sealed = Some((now, terminal));
        false
    }
}
