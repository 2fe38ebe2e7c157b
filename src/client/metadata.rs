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
//! * over gRPC, the bytes can only be decoded with eeops' own field numbers (Google publishes
//!   no proto for this message), which are right only for eeops' own server. So eeops' gRPC
//!   transport trusts binary metadata only from a server that says it is eeops'
//!   ([`EEOPS_SERVER_HEADER`](crate::pb::EEOPS_SERVER_HEADER) on the response). From any
//!   other server (Earth Engine itself, a proxy) the metadata is marked **unverified**:
//!   [`metadata`](OperationExt::metadata) is then `None` (as are
//!   [`state`](OperationExt::state) and [`progress`](OperationExt::progress)),
//!   [`metadata_unverified`](OperationExt::metadata_unverified) is true,
//!   [`unverified_metadata`](OperationExt::unverified_metadata) is the guess (which may be
//!   wrong without failing: use REST for facts), and [`raw_metadata`](OperationExt::raw_metadata)
//!   has the bytes as they came. What the `Operation` itself says (`done`, the error, the
//!   response, so [`outcome`](OperationExt::outcome)) never depends on the metadata.
//!
//! The mark is an unknown field (number 536870911, the largest there is) appended to the
//! `Any`'s bytes: a protobuf decoder skips it, and it travels with the bytes when the
//! operation is passed on.
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
    /// otherwise (as the server sent them: without the unverified mark).
    pub fn from_any(any: &prost_types::Any) -> RawValue {
        match json::raw_any_json(any) {
            Some(j) => RawValue::Json(j),
            None => RawValue::Binary {
                type_url: any.type_url.clone(),
                value: unmarked(any).to_vec(),
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

/// The unverified mark: field 536870911 (the largest field number), wire type 2, holding
/// `eeops:unverified`.
const UNVERIFIED_MARK: &[u8] = b"\xfa\xff\xff\xff\x0f\x10eeops:unverified";

/// Whether an `Any` is binary Earth Engine metadata marked unverified (see the [module
/// documentation](self)).
pub fn is_unverified(any: &prost_types::Any) -> bool {
    any.value.ends_with(UNVERIFIED_MARK) && is_earth_engine_metadata(&any.type_url)
}

/// The bytes of an `Any` without the unverified mark.
fn unmarked(any: &prost_types::Any) -> &[u8] {
    if is_unverified(any) {
        &any.value[..any.value.len() - UNVERIFIED_MARK.len()]
    } else {
        &any.value
    }
}

/// Marks binary Earth Engine metadata unverified (JSON metadata, other types and metadata
/// already marked are left alone).
pub(crate) fn mark_unverified(any: &mut prost_types::Any) {
    if is_earth_engine_metadata(&any.type_url)
        && !is_unverified(any)
        && json::raw_any_json(any).is_none()
    {
        any.value.extend_from_slice(UNVERIFIED_MARK);
    }
}

/// Conveniences on [`Operation`]. See the [module documentation](self).
pub trait OperationExt {
    /// Earth Engine's metadata, decoded best effort; `None` when there is none, it is of
    /// another type, nothing of it decodes, or it is unverified (see
    /// [`unverified_metadata`](Self::unverified_metadata)). (The field `metadata` is the raw
    /// `Any`.)
    fn metadata(&self) -> Option<OperationMetadata>;
    /// Whether the metadata is binary from a server that is not eeops' own, so that its
    /// decoding with eeops' field numbers is a guess (see the [module documentation](self)).
    fn metadata_unverified(&self) -> bool;
    /// For unverified metadata only: what eeops' field numbers make of it. It may be wrong
    /// without any error; show it as a guess, if at all.
    fn unverified_metadata(&self) -> Option<OperationMetadata>;
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

    fn metadata_unverified(&self) -> bool {
        self.metadata.as_ref().is_some_and(is_unverified)
    }

    fn unverified_metadata(&self) -> Option<OperationMetadata> {
        let any = self.metadata.as_ref().filter(|a| is_unverified(a))?;
        OperationMetadata::decode(unmarked(any)).ok()
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

/// Decodes Earth Engine metadata from an `Any`, best effort; `None` for metadata marked
/// unverified.
pub fn decode_metadata(any: &prost_types::Any) -> Option<OperationMetadata> {
    if !is_earth_engine_metadata(&any.type_url) || is_unverified(any) {
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
    fn unverified_metadata_is_not_handed_out() {
        let md = OperationMetadata {
            state: State::Running as i32,
            progress: 0.5,
            description: "d".into(),
            ..Default::default()
        };
        let bytes = md.encode_to_vec();
        let mut any = prost_types::Any {
            type_url: EE_METADATA_TYPE_URL.into(),
            value: bytes.clone(),
        };
        mark_unverified(&mut any);
        mark_unverified(&mut any); // once only
        assert_eq!(any.value.len(), bytes.len() + UNVERIFIED_MARK.len());
        // Still a valid message: a decoder skips the mark.
        assert_eq!(OperationMetadata::decode(any.value.as_slice()).unwrap(), md);
        let op = Operation {
            metadata: Some(any),
            ..Default::default()
        };
        assert!(op.metadata_unverified());
        assert_eq!(op.metadata(), None);
        assert_eq!(op.state(), None);
        assert_eq!(op.progress(), None);
        assert_eq!(op.unverified_metadata(), Some(md));
        assert_eq!(
            op.raw_metadata(),
            Some(RawValue::Binary {
                type_url: EE_METADATA_TYPE_URL.into(),
                value: bytes
            })
        );
        // JSON metadata and other types are never marked.
        let body = br#"{"name":"n","metadata":{"@type":"type.googleapis.com/google.earthengine.v1alpha.OperationMetadata","state":"RUNNING"}}"#;
        let mut op: Operation = json::from_json_keep_raw(body).unwrap();
        let before = op.clone();
        mark_unverified(op.metadata.as_mut().unwrap());
        assert_eq!(op, before);
        let mut other = prost_types::Any {
            type_url: "type.googleapis.com/x.Y".into(),
            value: vec![8, 1],
        };
        mark_unverified(&mut other);
        assert_eq!(other.value, vec![8, 1]);
        // A verified operation says so.
        assert!(!Operation::default().metadata_unverified());
        assert_eq!(Operation::default().unverified_metadata(), None);
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
