//! `--state` and `--type`: the names Earth Engine users know, checked before anything is sent,
//! and applied by eeops to what the server lists.
//!
//! Earth Engine documents no list filter grammar, and its own tools filter by state on the
//! client; eeops' emulator understands only `AND` of equalities, so "PENDING or RUNNING"
//! cannot be said to it in one filter. So `--state` and `--type` never go to the server: eeops
//! lists and keeps what matches. `--filter` is the one way to send a filter, as written.

use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::Operation;

use crate::Failure;
use crate::output::{clean, state_label};

/// The states, as the API names them, with the legacy names `earthengine task list` prints.
const STATES: &[(&str, State)] = &[
    ("PENDING", State::Pending),
    ("READY", State::Pending),
    ("RUNNING", State::Running),
    ("CANCELLING", State::Cancelling),
    ("CANCEL_REQUESTED", State::Cancelling),
    ("SUCCEEDED", State::Succeeded),
    ("COMPLETED", State::Succeeded),
    ("CANCELLED", State::Cancelled),
    ("FAILED", State::Failed),
];

const STATE_NAMES: &str = "PENDING (or READY), RUNNING, CANCELLING (or CANCEL_REQUESTED), \
                           SUCCEEDED (or COMPLETED), CANCELLED, FAILED";

/// Earth Engine's task types (`metadata.type`), and the names the Python client's
/// `ee.batch.Task.Type` gives two of them.
const TYPES: &[(&str, &str)] = &[
    ("EXPORT_IMAGE", "EXPORT_IMAGE"),
    ("EXPORT_FEATURES", "EXPORT_FEATURES"),
    ("EXPORT_TABLE", "EXPORT_FEATURES"),
    ("EXPORT_VIDEO", "EXPORT_VIDEO"),
    ("EXPORT_TILES", "EXPORT_TILES"),
    ("EXPORT_MAP", "EXPORT_TILES"),
    ("EXPORT_CLASSIFIER", "EXPORT_CLASSIFIER"),
    ("INGEST_IMAGE", "INGEST_IMAGE"),
    ("INGEST_TABLE", "INGEST_TABLE"),
];

const TYPE_NAMES: &str = "EXPORT_IMAGE, EXPORT_FEATURES (or EXPORT_TABLE), EXPORT_VIDEO, \
                          EXPORT_TILES (or EXPORT_MAP), EXPORT_CLASSIFIER, INGEST_IMAGE, \
                          INGEST_TABLE";

/// Parses `--state` values (each may be a comma-separated list; any case).
pub fn parse_states(values: &[String]) -> Result<Vec<State>, Failure> {
    let mut states = Vec::new();
    for v in values {
        let name = v.trim().to_ascii_uppercase();
        let state = match STATES.iter().find(|(n, _)| *n == name) {
            Some((_, s)) => *s,
            None => {
                let why = match name.as_str() {
                    "UNSUBMITTED" => {
                        "UNSUBMITTED is a task the Python client has not started yet; the \
                         service never lists one"
                            .to_owned()
                    }
                    "UNKNOWN" => "UNKNOWN is what Earth Engine's tools print for a task they \
                                  could not find; no listed task has it"
                        .to_owned(),
                    "" => "an empty state".to_owned(),
                    _ => format!("unknown state `{}`", clean(v.trim())),
                };
                return Err(Failure::usage(format!(
                    "--state: {why}; the states are {STATE_NAMES}"
                )));
            }
        };
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(states)
}

/// Parses `--type` values (each may be a comma-separated list; any case).
pub fn parse_types(values: &[String]) -> Result<Vec<String>, Failure> {
    let mut types = Vec::new();
    for v in values {
        let name = v.trim().to_ascii_uppercase();
        match TYPES.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => {
                if !types.iter().any(|have| have == t) {
                    types.push((*t).to_owned());
                }
            }
            None => {
                return Err(Failure::usage(format!(
                    "--type: unknown task type `{}`; the types are {TYPE_NAMES}",
                    clean(v.trim())
                )));
            }
        }
    }
    Ok(types)
}

/// What `--state` and `--type` select; empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The states to keep.
    pub states: Vec<State>,
    /// The task types to keep.
    pub types: Vec<String>,
    /// The states were not given but filled in with every unfinished state (`--all`), which
    /// `done` alone decides.
    pub states_defaulted: bool,
}

impl Selection {
    /// The selection of these flag values.
    pub fn parse(states: &[String], types: &[String]) -> Result<Selection, Failure> {
        Ok(Selection {
            states: parse_states(states)?,
            types: parse_types(types)?,
            states_defaulted: false,
        })
    }

    /// Whether the operation is selected.
    pub fn matches(&self, op: &Operation) -> bool {
        use eeops::client::OperationExt as _;
        let state_ok = self.states.is_empty() || {
            let label = state_label(op);
            self.states.iter().any(|s| s.as_str_name() == label)
        };
        let type_ok = self.types.is_empty()
            || op
                .metadata()
                .is_some_and(|m| self.types.iter().any(|t| t.eq_ignore_ascii_case(&m.r#type)));
        state_ok && type_ok
    }

    /// Whether the selection needs more than `done` to decide: states or types the user gave.
    pub fn needs_metadata(&self) -> bool {
        !self.types.is_empty() || (!self.states.is_empty() && !self.states_defaulted)
    }

    /// The refusal when an operation's metadata cannot be verified (gRPC, not eeops' server),
    /// so neither its state nor its type can be checked.
    pub fn unverifiable(&self) -> Failure {
        Failure::usage(format!(
            "--state and --type cannot be checked: {}",
            crate::output::UNVERIFIED_NOTE
        ))
    }

    /// `PENDING or RUNNING, type EXPORT_IMAGE`, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.states.is_empty() {
            let names: Vec<&str> = self.states.iter().map(|s| s.as_str_name()).collect();
            parts.push(names.join(" or "));
        }
        if !self.types.is_empty() {
            parts.push(format!("type {}", self.types.join(" or ")));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn legacy_state_names() {
        let s = parse_states(&strings(&[
            "ready",
            "COMPLETED",
            "cancel_requested",
            "RUNNING",
        ]))
        .unwrap();
        assert_eq!(
            s,
            [
                State::Pending,
                State::Succeeded,
                State::Cancelling,
                State::Running
            ]
        );
        for bad in ["UNSUBMITTED", "unknown", "DONE", ""] {
            let e = parse_states(&strings(&[bad])).unwrap_err();
            assert_eq!(e.code, crate::exit::USAGE);
            assert!(e.message.contains("PENDING (or READY)"), "{}", e.message);
        }
    }

    #[test]
    fn types_and_aliases() {
        assert_eq!(
            parse_types(&strings(&["export_table", "EXPORT_FEATURES", "EXPORT_MAP"])).unwrap(),
            ["EXPORT_FEATURES", "EXPORT_TILES"]
        );
        let e = parse_types(&strings(&["EXPORT_PDF"])).unwrap_err();
        assert!(e.message.contains("EXPORT_PDF") && e.message.contains("INGEST_TABLE"));
    }
}
