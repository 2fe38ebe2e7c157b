//! The REST bindings of RPC methods, as the generator (`eeops-build`) reads them from the
//! protos.

/// One REST binding of one RPC method: an HTTP method, a path template and the body rule of a
/// `google.api.HttpRule`.
///
/// The generator (`eeops-build`, called by `build.rs`) writes the table of these ([`crate::pb::HTTP_BINDINGS`]) from the
/// `google.api.http` annotations of the protos and the Earth Engine rules in
/// `proto/earthengine/http_rules.json`; the REST client and the REST server both route by it.
///
/// ```
/// let cancel_v1 = eeops::pb::HTTP_BINDINGS
///     .iter()
///     .find(|b| b.method == "google.longrunning.Operations.CancelOperation" && b.api_version == "v1")
///     .unwrap();
/// assert_eq!(cancel_v1.http_method, "POST");
/// assert_eq!(cancel_v1.template, "/v1/{name=projects/*/operations/**}:cancel");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpBinding {
    /// The fully qualified RPC method, e.g. `google.longrunning.Operations.GetOperation`.
    pub method: &'static str,
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, or a custom pattern's kind.
    pub http_method: &'static str,
    /// The path template, e.g. `/v1/{name=projects/*/operations/**}:cancel`.
    pub template: &'static str,
    /// The rule's `body`: `*` (every field not bound in the path), a field name, or empty (no
    /// body; unbound fields travel as query parameters).
    pub body: &'static str,
    /// The rule's `response_body`: empty for the whole response message.
    pub response_body: &'static str,
    /// Where the rule comes from: an Earth Engine API version key (`v1`, `v1beta`, `v1alpha`)
    /// or empty for the proto's own `google.api.http` annotation.
    pub api_version: &'static str,
}
