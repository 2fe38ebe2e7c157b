//! Reading operations: Earth Engine's typed metadata and the outcome of a finished operation.
//!
//! [`OperationExt`] adds, to the generated [`Operation`], [`metadata`](OperationExt::metadata)
//! (Earth Engine's `OperationMetadata`: state, progress, stages, times...) and
//! [`outcome`](OperationExt::outcome). Decoding is best effort and never fails a call:
//!
//! * over REST, metadata of a type this build knows arrives decoded; one of a type it does not
//!   know (say `google.earthengine.v1alpha.OperationMetadata`), or whose JSON does not fit,
//!   arrives as its raw JSON and is decoded here field by field, skipping fields that do not
//!   fit;
//! * over gRPC, the bytes are decoded with eeops' own field numbers (Google publishes no proto
//!   for this message), so metadata from a real Earth Engine gRPC endpoint may not decode:
//!   then [`metadata`](OperationExt::metadata) is `None` and
//!   [`raw_metadata`](OperationExt::raw_metadata) still has the bytes.
//!
//! ```
//! use eeops::client::{OperationExt, Outcome};
//! use eeops::pb::google::earthengine::v1::operation_metadata::State;
//! use eeops::pb::google::longrunning::Operation;
//!
//! let body = br#"{"name":"projects/p/operations/A","done":false,
//!   "metadata":{"@type":"type.googleapis.com/google.earthengine.v1alpha.OperationMetadata",
//!               "state":"RUNNING","progress":0.25,"description":"export"}}"#;
//! let op: Operation = eeops::json::from_json_keep_raw(body).unwrap();
//! let md = op.metadata().unwrap();
//! assert_eq!(md.state(), State::Running);
//! assert_eq!(md.progress, 0.25);
//! assert_eq!(op.state(), Some(State::Running));
//! assert!(matches!(op.outcome(), Outcome::Running));
//! ```

use prost::Message as _;
use prost_reflect::ReflectMessage as _;
use serde_json::Value as Json;

use crate::json;
use crate::pb::google::earthengine::v1::OperationMetadata;
use crate::pb::google::earthengine::v1::operation_metadata::State;
use crate::pb::google::longrunning::{Operation, operation};
use crate::pb::google::rpc::{Code, Status};

/// An `Any` kept as it came, for values eeops could not (or was not asked to) decode.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RawValue {
    /// Over REST: the JSON object, `@type` included.
    Json(Json),
    /// Over gRPC: the type URL and the encoded bytes.
    Binary {
        /// The `Any`'s type URL.
        type_url: String,
        /// The encoded message.
        value: Vec<u8>,
    },
}

impl RawValue {
    /// Reads an `Any`: raw JSON when it carries some (see [`json::raw_any_json`]), bytes
    /// otherwise.
    pub fn from_any(any: &prost_types::Any) -> RawValue {
        match json::raw_any_json(any) {
            Some(j) => RawValue::Json(j),
            None => RawValue::Binary {
                type_url: any.type_url.clone(),
                value: any.value.clone(),
            },
        }
    }

    /// The type URL.
    pub fn type_url(&self) -> &str {
        match self {
            RawValue::Json(j) => j.get("@type").and_then(Json::as_str).unwrap_or_default(),
            RawValue::Binary { type_url, .. } => type_url,
        }
    }
}

/// How an operation ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// `done` is false.
    Running,
    /// Done with a response (or, unusually, with neither response nor error).
    Succeeded(Option<&'a prost_types::Any>),
    /// Done with error code 1 (CANCELLED): what a successful cancel leads to.
    Cancelled(&'a Status),
    /// Done with another error.
    Failed(&'a Status),
}

/// Whether an `Any`'s type URL is Earth Engine's operation metadata, in any API version
/// (`google.earthengine.v1.OperationMetadata`, `...v1beta...`, `...v1alpha...`).
pub fn is_earth_engine_metadata(type_url: &str) -> bool {
    let name = type_url.rsplit('/').next().unwrap_or_default();
    name.strip_prefix("google.earthengine.")
        .and_then(|rest| rest.strip_suffix(".OperationMetadata"))
        .is_some_and(|version| !version.is_empty() && !version.contains('.'))
}

/// Conveniences on [`Operation`]. See the [module documentation](self).
pub trait OperationExt {
    /// Earth Engine's metadata, decoded best effort; `None` when there is none, it is of
    /// another type, or nothing of it decodes. (The field `metadata` is the raw `Any`.)
    fn metadata(&self) -> Option<OperationMetadata>;
    /// The metadata as it came.
    fn raw_metadata(&self) -> Option<RawValue>;
    /// The response of a successful operation as it came.
    fn raw_response(&self) -> Option<RawValue>;
    /// The task state from the metadata.
    fn state(&self) -> Option<State>;
    /// The progress (0 to 1) from the metadata.
    fn progress(&self) -> Option<f64>;
    /// How the operation ended, or [`Outcome::Running`].
    fn outcome(&self) -> Outcome<'_>;
    /// The error of a failed (or cancelled) operation.
    fn error(&self) -> Option<&Status>;
}

impl OperationExt for Operation {
    fn metadata(&self) -> Option<OperationMetadata> {
        let any = self.metadata.as_ref()?;
        decode_metadata(any)
    }

    fn raw_metadata(&self) -> Option<RawValue> {
        self.metadata.as_ref().map(RawValue::from_any)
    }

    fn raw_response(&self) -> Option<RawValue> {
        match &self.result {
            Some(operation::Result::Response(any)) => Some(RawValue::from_any(any)),
            _ => None,
        }
    }

    fn state(&self) -> Option<State> {
        self.metadata().map(|m| m.state())
    }

    fn progress(&self) -> Option<f64> {
        self.metadata().map(|m| m.progress)
    }

    fn outcome(&self) -> Outcome<'_> {
        if !self.done {
            return Outcome::Running;
        }
        match &self.result {
            Some(operation::Result::Error(s)) if s.code == Code::Cancelled as i32 => {
                Outcome::Cancelled(s)
            }
            Some(operation::Result::Error(s)) => Outcome::Failed(s),
            Some(operation::Result::Response(any)) => Outcome::Succeeded(Some(any)),
            None => Outcome::Succeeded(None),
        }
    }

    fn error(&self) -> Option<&Status> {
        match &self.result {
            Some(operation::Result::Error(s)) => Some(s),
            _ => None,
        }
    }
}

/// Decodes Earth Engine metadata from an `Any`, best effort.
pub fn decode_metadata(any: &prost_types::Any) -> Option<OperationMetadata> {
    if !is_earth_engine_metadata(&any.type_url) {
        return None;
    }
    if let Some(j) = json::raw_any_json(any) {
        return metadata_from_json(j);
    }
    OperationMetadata::decode(any.value.as_slice()).ok()
}

/// Decodes the fields of a metadata JSON object that fit, skipping the ones that do not.
fn metadata_from_json(mut value: Json) -> Option<OperationMetadata> {
    let map = value.as_object_mut()?;
    map.remove("@type");
    let desc = OperationMetadata::default().descriptor();
    let parse = |v: &Json| -> Option<OperationMetadata> {
        let bytes = serde_json::to_vec(v).ok()?;
        json::dynamic_from_json(desc.clone(), &bytes, false)
            .ok()?
            .transcode_to::<OperationMetadata>()
            .ok()
    };
    if let Some(md) = parse(&value) {
        return Some(md);
    }
    // Something does not fit (an enum value from a newer server, say): keep what does.
    let mut kept = serde_json::Map::new();
    for (k, v) in value.as_object()? {
        let one = Json::Object(std::iter::once((k.clone(), v.clone())).collect());
        if parse(&one).is_some() {
            kept.insert(k.clone(), v.clone());
        }
    }
    parse(&Json::Object(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::EE_METADATA_TYPE_URL;

    #[test]
    fn type_urls() {
        assert!(is_earth_engine_metadata(EE_METADATA_TYPE_URL));
        assert!(is_earth_engine_metadata(
            "type.googleapis.com/google.earthengine.v1alpha.OperationMetadata"
        ));
        assert!(!is_earth_engine_metadata(
            "type.googleapis.com/google.earthengine.OperationMetadata"
        ));
        assert!(!is_earth_engine_metadata(
            "type.googleapis.com/x.OperationMetadata"
        ));
    }

    #[test]
    fn binary_and_json_and_unfit() {
        let md = OperationMetadata {
            state: State::Succeeded as i32,
            progress: 1.0,
            ..Default::default()
        };
        let op = Operation {
            metadata: Some(prost_types::Any {
                type_url: EE_METADATA_TYPE_URL.into(),
                value: md.encode_to_vec(),
            }),
            ..Default::default()
        };
        assert_eq!(op.metadata(), Some(md));
        assert!(matches!(op.raw_metadata(), Some(RawValue::Binary { .. })));

        // Not decodable bytes: None, but the raw value stays.
        let bad = Operation {
            metadata: Some(prost_types::Any {
                type_url: EE_METADATA_TYPE_URL.into(),
                value: vec![0xff, 0xff, 0xff],
            }),
            ..Default::default()
        };
        assert_eq!(bad.metadata(), None);
        assert!(bad.raw_metadata().is_some());

        // A known type whose JSON does not fit (progress as text, a state from the future):
        // the call decodes, the misfits are skipped, the rest is kept, and the raw JSON stays.
        let body = br#"{"name":"projects/p/operations/A","metadata":{
            "@type":"type.googleapis.com/google.earthengine.v1.OperationMetadata",
            "state":"HIBERNATING","description":"d","progress":"lots"}}"#;
        let op: Operation = json::from_json_keep_raw(body).unwrap();
        let md = op.metadata().unwrap();
        assert_eq!(md.state(), State::Unspecified);
        assert_eq!(md.description, "d");
        assert_eq!(md.progress, 0.0);
        match op.raw_metadata() {
            Some(RawValue::Json(j)) => assert_eq!(j["progress"], "lots"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outcomes() {
        let cancelled = Operation {
            done: true,
            result: Some(operation::Result::Error(Status {
                code: 1,
                ..Default::default()
            })),
            ..Default::default()
        };
        assert!(matches!(cancelled.outcome(), Outcome::Cancelled(_)));
        assert!(matches!(Operation::default().outcome(), Outcome::Running));
    }
}
