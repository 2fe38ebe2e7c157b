//! Routing REST requests to bindings (server side) and finding a method's binding (client
//! side), with every template parsed once.

use std::cmp::Ordering;

use super::binding::HttpBinding;
use super::options::{RouterOptions, VerbMatching};
use super::template::{PathTemplate, Segment, TemplateError, split_verb};

/// An [`HttpBinding`] together with its parsed path template.
///
/// ```
/// use eeops::transcode::{CompiledBinding, HttpBinding};
///
/// static GET: HttpBinding = HttpBinding {
///     method: "google.longrunning.Operations.GetOperation",
///     http_method: "GET",
///     template: "/v1/{name=projects/*/operations/**}",
///     body: "",
///     response_body: "",
///     api_version: "v1",
/// };
/// let compiled = CompiledBinding::new(&GET)?;
/// assert_eq!(compiled.template().variables()[0].field_path(), "name");
/// # Ok::<(), eeops::transcode::TemplateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CompiledBinding {
    binding: &'static HttpBinding,
    template: PathTemplate,
    /// The path variables resolved against the request message, for the server's short way
    /// (see `wire`), worked out on the binding's first request.
    pub(crate) path_fields: super::wire::PathFields,
}

impl CompiledBinding {
    /// Parses the binding's template.
    pub fn new(binding: &'static HttpBinding) -> Result<Self, TemplateError> {
        Ok(CompiledBinding {
            binding,
            template: PathTemplate::parse(binding.template)?,
            path_fields: Default::default(),
        })
    }

    /// Parses the binding's template as the options allow (see
    /// [`PathTemplate::parse_with`]).
    pub fn with_options(
        binding: &'static HttpBinding,
        options: &RouterOptions,
    ) -> Result<Self, TemplateError> {
        Ok(CompiledBinding {
            binding,
            template: PathTemplate::parse_with(binding.template, options)?,
            path_fields: Default::default(),
        })
    }

    /// The binding itself.
    pub fn binding(&self) -> &'static HttpBinding {
        self.binding
    }

    /// The parsed path template.
    pub fn template(&self) -> &PathTemplate {
        &self.template
    }
}

/// The binding a request path routes to, with the decoded values of its path variables.
#[derive(Debug, Clone)]
pub struct RouteMatch<'r> {
    /// The binding that matched.
    pub binding: &'static HttpBinding,
    /// Each path variable's field path and its decoded value, in template order.
    pub variables: Vec<(String, String)>,
    /// The compiled binding (binding and parsed template) that matched.
    #[doc(hidden)]
    pub compiled: &'r CompiledBinding,
    /// The options of the router that matched (the query decoding follows them).
    pub(crate) options: &'r RouterOptions,
}

impl RouteMatch<'_> {
    /// The options of the router that routed the request.
    #[doc(hidden)]
    pub fn options(&self) -> &RouterOptions {
        self.options
    }
}

/// Why a request could not be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// No binding matches the path (HTTP 404).
    #[error("no REST binding for path `{path}`")]
    NotFound {
        /// The request path.
        path: String,
    },
    /// Some bindings match the path, but none for this HTTP method (HTTP 405).
    #[error("method {method} is not allowed for path `{path}` (allowed: {})", allowed.join(", "))]
    MethodNotAllowed {
        /// The request's HTTP method.
        method: String,
        /// The request path.
        path: String,
        /// The HTTP methods the path does accept (for an `Allow` header).
        allowed: Vec<&'static str>,
    },
}

impl RouteError {
    /// The HTTP status a server should answer with: 404 or 405.
    pub fn status(&self) -> http::StatusCode {
        match self {
            RouteError::NotFound { .. } => http::StatusCode::NOT_FOUND,
            RouteError::MethodNotAllowed { .. } => http::StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

/// A table of compiled bindings: routes requests on the server and finds a method's binding on
/// the client.
///
/// When several bindings match a path, the most specific one wins: templates compare segment
/// by segment from the left, a literal beating `*` and `*` beating `**`; when that ties, a
/// template with a verb beats one without; when that ties too, the earlier binding in the
/// table wins.
///
/// [`Router::new`] follows `google/api/http.proto`'s text; [`Router::with_options`] takes
/// [`RouterOptions`], e.g. [`RouterOptions::envoy`] to route as Envoy's transcoder does.
///
/// ```
/// use eeops::transcode::{HttpBinding, RouteError, Router};
///
/// static BINDINGS: &[HttpBinding] = &[
///     HttpBinding {
///         method: "google.longrunning.Operations.GetOperation",
///         http_method: "GET",
///         template: "/v1/{name=projects/*/operations/**}",
///         body: "",
///         response_body: "",
///         api_version: "v1",
///     },
///     HttpBinding {
///         method: "google.longrunning.Operations.CancelOperation",
///         http_method: "POST",
///         template: "/v1/{name=projects/*/operations/**}:cancel",
///         body: "*",
///         response_body: "",
///         api_version: "v1",
///     },
/// ];
/// let router = Router::new(BINDINGS)?;
///
/// let m = router.route("POST", "/v1/projects/p/operations/ABC:cancel").unwrap();
/// assert_eq!(m.binding.method, "google.longrunning.Operations.CancelOperation");
/// assert_eq!(m.variables, vec![("name".to_string(), "projects/p/operations/ABC".to_string())]);
///
/// assert!(matches!(router.route("GET", "/v2/x"), Err(RouteError::NotFound { .. })));
/// assert!(matches!(
///     router.route("DELETE", "/v1/projects/p/operations/ABC"),
///     Err(RouteError::MethodNotAllowed { .. })
/// ));
///
/// let cancel = router.find("google.longrunning.Operations.CancelOperation", "v1").unwrap();
/// assert_eq!(cancel.template().verb(), Some("cancel"));
/// # Ok::<(), eeops::transcode::TemplateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Router {
    /// In table order.
    bindings: Vec<CompiledBinding>,
    /// Indices into `bindings`, most specific first.
    by_specificity: Vec<usize>,
    options: RouterOptions,
    /// Every verb some binding declares (for [`VerbMatching::Registered`]).
    verbs: Vec<String>,
}

impl Router {
    /// Parses every binding's template once; fails on the first malformed template. Routes
    /// as `google/api/http.proto` states ([`RouterOptions::default`]).
    pub fn new(bindings: &'static [HttpBinding]) -> Result<Router, TemplateError> {
        Router::with_options(bindings, RouterOptions::default())
    }

    /// [`Router::new`] with [`RouterOptions`], e.g. [`RouterOptions::envoy`].
    pub fn with_options(
        bindings: &'static [HttpBinding],
        options: RouterOptions,
    ) -> Result<Router, TemplateError> {
        Router::from_bindings(bindings, options)
    }

    /// A router over bindings from several tables (e.g. several services served together),
    /// most specific first as with [`Router::new`], table order among equals.
    ///
    /// ```
    /// use eeops::transcode::{Router, RouterOptions};
    /// let router = Router::from_bindings(eeops::pb::HTTP_BINDINGS.iter(), RouterOptions::default()).unwrap();
    /// assert!(router.route("GET", "/v1/projects/p/operations/X").is_ok());
    /// ```
    pub fn from_bindings(
        bindings: impl IntoIterator<Item = &'static HttpBinding>,
        options: RouterOptions,
    ) -> Result<Router, TemplateError> {
        let bindings = bindings
            .into_iter()
            .map(|b| CompiledBinding::with_options(b, &options))
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_specificity: Vec<usize> = (0..bindings.len()).collect();
        // A stable sort keeps table order among equally specific templates.
        by_specificity
            .sort_by(|&a, &b| specificity(bindings[b].template(), bindings[a].template()));
        let mut verbs: Vec<String> = Vec::new();
        for b in &bindings {
            if let Some(verb) = b.template().verb()
                && !verbs.iter().any(|v| v == verb)
            {
                verbs.push(verb.to_owned());
            }
        }
        Ok(Router {
            bindings,
            by_specificity,
            options,
            verbs,
        })
    }

    /// The options the router routes by.
    pub fn options(&self) -> &RouterOptions {
        &self.options
    }

    /// Where the router cuts the verb off `path`: `None` when each template decides by its
    /// own verb.
    fn split<'p>(&self, path: &'p str) -> Option<(&'p str, Option<&'p str>)> {
        match self.options.verb_matching {
            VerbMatching::Declared => None,
            VerbMatching::Any => Some(split_verb(path)),
            VerbMatching::Registered => match split_verb(path) {
                (before, Some(verb)) if self.verbs.iter().any(|v| v == verb) => {
                    Some((before, Some(verb)))
                }
                _ => Some((path, None)),
            },
        }
    }

    /// All compiled bindings, in table order.
    pub fn bindings(&self) -> &[CompiledBinding] {
        &self.bindings
    }

    /// Routes a request: `path` is the raw (percent-encoded) path; anything from a `?` on is
    /// ignored. HTTP methods compare exactly (they are case-sensitive).
    pub fn route(&self, http_method: &str, path: &str) -> Result<RouteMatch<'_>, RouteError> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let split = self.split(path);
        let options = &self.options;
        for &i in &self.by_specificity {
            let compiled = &self.bindings[i];
            if compiled.binding.http_method != http_method {
                continue;
            }
            if let Some(variables) = compiled.template.match_split(path, split, options) {
                return Ok(RouteMatch {
                    binding: compiled.binding,
                    variables,
                    compiled,
                    options,
                });
            }
        }
        let mut allowed: Vec<&'static str> = Vec::new();
        for compiled in &self.bindings {
            let method = compiled.binding.http_method;
            if method != http_method
                && !allowed.contains(&method)
                && compiled
                    .template
                    .match_split(path, split, options)
                    .is_some()
            {
                allowed.push(method);
            }
        }
        if allowed.is_empty() {
            Err(RouteError::NotFound {
                path: path.to_owned(),
            })
        } else {
            Err(RouteError::MethodNotAllowed {
                method: http_method.to_owned(),
                path: path.to_owned(),
                allowed,
            })
        }
    }

    /// The binding of an RPC method (fully qualified, e.g.
    /// `google.longrunning.Operations.CancelOperation`) for an API version (`v1`, ..., or
    /// empty for the proto's own annotation). The first such binding in the table wins.
    pub fn find(&self, method_full_name: &str, api_version: &str) -> Option<&CompiledBinding> {
        self.bindings
            .iter()
            .find(|c| c.binding.method == method_full_name && c.binding.api_version == api_version)
    }
}

fn rank(segment: &Segment) -> u8 {
    match segment {
        Segment::Literal(_) => 2,
        Segment::Wildcard => 1,
        Segment::DeepWildcard => 0,
    }
}

/// `Greater` when `a` is more specific than `b`.
fn specificity(a: &PathTemplate, b: &PathTemplate) -> Ordering {
    let by_segments = a
        .segments()
        .iter()
        .map(rank)
        .cmp(b.segments().iter().map(rank));
    by_segments.then_with(|| a.verb().is_some().cmp(&b.verb().is_some()))
}

#[cfg(test)]
mod tests {
    /// (HTTP method, path, Ok((binding, name)) | Err(status))
    type RouteCase = (
        &'static str,
        &'static str,
        Result<(&'static str, &'static str), u16>,
    );
    use super::*;

    const fn b(
        method: &'static str,
        http_method: &'static str,
        template: &'static str,
    ) -> HttpBinding {
        HttpBinding {
            method,
            http_method,
            template,
            body: "",
            response_body: "",
            api_version: "v1",
        }
    }

    static BINDINGS: &[HttpBinding] = &[
        b("Generic", "GET", "/v1/{name=**}"),
        b("Get", "GET", "/v1/{name=projects/*/operations/**}"),
        b("Delete", "DELETE", "/v1/{name=projects/*/operations/**}"),
        b("Update", "POST", "/v1/{name=projects/*/operations/**}"),
        b(
            "Cancel",
            "POST",
            "/v1/{name=projects/*/operations/**}:cancel",
        ),
        b("Wait", "POST", "/v1/{name=projects/*/operations/**}:wait"),
        b("List", "GET", "/v1/{name=projects/*}/operations"),
        b("Special", "GET", "/v1/{name=projects/*/operations/special}"),
        b("StarOp", "GET", "/v1/{name=projects/*/operations/*}/x"),
    ];

    fn router() -> Router {
        match Router::new(BINDINGS) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn routes() {
        let router = router();
        // (HTTP method, path, Ok((binding, name)) | Err(status))
        let cases: &[RouteCase] = &[
            (
                "GET",
                "/v1/projects/p/operations/x",
                Ok(("Get", "projects/p/operations/x")),
            ),
            (
                "GET",
                "/v1/projects/p/operations/a/b",
                Ok(("Get", "projects/p/operations/a/b")),
            ),
            (
                "GET",
                "/v1/projects/p/operations/special",
                Ok(("Special", "projects/p/operations/special")),
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Ok(("List", "projects/p")),
            ),
            ("GET", "/v1/other/thing", Ok(("Generic", "other/thing"))),
            (
                "GET",
                "/v1/projects/p/operations/x/x",
                Ok(("StarOp", "projects/p/operations/x")),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:cancel",
                Ok(("Cancel", "projects/p/operations/x")),
            ),
            (
                "POST",
                "/v1/projects/p/operations/a/b:cancel",
                Ok(("Cancel", "projects/p/operations/a/b")),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:wait",
                Ok(("Wait", "projects/p/operations/x")),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x",
                Ok(("Update", "projects/p/operations/x")),
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:other",
                Ok(("Update", "projects/p/operations/x:other")),
            ),
            (
                "DELETE",
                "/v1/projects/p/operations/x",
                Ok(("Delete", "projects/p/operations/x")),
            ),
            (
                "DELETE",
                "/v1/projects/p/operations/x:cancel",
                Ok(("Delete", "projects/p/operations/x:cancel")),
            ),
            (
                "GET",
                "/v1/projects/p/operations/x?alt=json",
                Ok(("Get", "projects/p/operations/x")),
            ),
            (
                "GET",
                "/v1/projects/p/operations/x%3Ay",
                Ok(("Get", "projects/p/operations/x:y")),
            ),
            ("PUT", "/v1/projects/p/operations/x", Err(405)),
            ("DELETE", "/v1/projects/p/operations", Err(405)),
            ("get", "/v1/projects/p/operations/x", Err(405)),
            ("GET", "/v2/x", Err(404)),
            ("GET", "", Err(404)),
            ("GET", "/", Err(404)),
            ("GET", "/v1", Err(404)),
            ("POST", "/v1/projects/p/operations/%ZZ:cancel", Err(404)),
        ];
        for (method, path, expected) in cases {
            match (router.route(method, path), expected) {
                (Ok(m), Ok((binding, name))) => {
                    assert_eq!(m.binding.method, *binding, "{method} {path}");
                    assert_eq!(m.variables, vec![("name".to_string(), name.to_string())]);
                    assert!(std::ptr::eq(m.compiled.binding(), m.binding));
                }
                (Err(e), Err(status)) => {
                    assert_eq!(e.status().as_u16(), *status, "{method} {path}: {e}")
                }
                (got, want) => panic!("{method} {path}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let err = router()
            .route("PUT", "/v1/projects/p/operations/x")
            .unwrap_err();
        match &err {
            RouteError::MethodNotAllowed { allowed, .. } => {
                assert_eq!(allowed, &vec!["GET", "DELETE", "POST"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("PUT"));
    }

    /// The templates of the protos' own annotations and of the Earth Engine rules.
    static EARTH_ENGINE: &[HttpBinding] = &[
        b("Get", "GET", "/v1/{name=operations/**}"),
        b("List", "GET", "/v1/{name=operations}"),
        b("Cancel", "POST", "/v1/{name=operations/**}:cancel"),
        b("Delete", "DELETE", "/v1/{name=operations/**}"),
        b("EeGet", "GET", "/v1beta/{name=projects/*/operations/**}"),
        b("EeList", "GET", "/v1beta/{name=projects/*}/operations"),
        b(
            "EeCancel",
            "POST",
            "/v1beta/{name=projects/*/operations/**}:cancel",
        ),
        b(
            "EeWait",
            "POST",
            "/v1beta/{name=projects/*/operations/**}:wait",
        ),
        b("EeGetV1", "GET", "/v1/{name=projects/*/operations/**}"),
        b("EeListV1", "GET", "/v1/{name=projects/*}/operations"),
    ];

    #[test]
    fn earth_engine_and_generic_bindings_coexist() {
        let router = match Router::new(EARTH_ENGINE) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let cases: &[RouteCase] = &[
            ("GET", "/v1/operations", Ok(("List", "operations"))),
            ("GET", "/v1/operations/x", Ok(("Get", "operations/x"))),
            (
                "POST",
                "/v1/operations/x:cancel",
                Ok(("Cancel", "operations/x")),
            ),
            (
                "GET",
                "/v1/projects/p/operations",
                Ok(("EeListV1", "projects/p")),
            ),
            (
                "GET",
                "/v1/projects/p/operations/x",
                Ok(("EeGetV1", "projects/p/operations/x")),
            ),
            (
                "GET",
                "/v1beta/projects/p/operations",
                Ok(("EeList", "projects/p")),
            ),
            (
                "POST",
                "/v1beta/projects/p/operations/x:wait",
                Ok(("EeWait", "projects/p/operations/x")),
            ),
            ("POST", "/v1beta/projects/p/operations/x", Err(405)),
            ("GET", "/v1alpha/projects/p/operations", Err(404)),
        ];
        for (method, path, expected) in cases {
            match (router.route(method, path), expected) {
                (Ok(m), Ok((binding, name))) => {
                    assert_eq!(m.binding.method, *binding, "{method} {path}");
                    assert_eq!(m.variables, vec![("name".to_string(), name.to_string())]);
                }
                (Err(e), Err(status)) => assert_eq!(e.status().as_u16(), *status, "{path}"),
                (got, want) => panic!("{method} {path}: got {got:?}, want {want:?}"),
            }
        }
        let list = router
            .find("List", "v1")
            .map(|c| c.template().expand(|_| Some("operations")));
        assert_eq!(list, Some(Ok("/v1/operations".to_string())));
    }

    #[test]
    fn find_and_errors() {
        let router = router();
        let cancel = router
            .find("Cancel", "v1")
            .map(|c| c.template().to_string());
        assert_eq!(
            cancel.as_deref(),
            Some("/v1/{name=projects/*/operations/**}:cancel")
        );
        assert!(router.find("Cancel", "v1beta").is_none());
        assert!(router.find("Nope", "v1").is_none());
        assert_eq!(router.bindings().len(), BINDINGS.len());

        static BAD: &[HttpBinding] = &[b("Bad", "GET", "/v1/{name=**}/x")];
        let err = Router::new(BAD).unwrap_err();
        assert_eq!(
            err.kind(),
            &crate::transcode::template::TemplateErrorKind::DeepWildcardNotLast
        );
    }

    #[test]
    fn verb_matching_modes() {
        use crate::transcode::{RouterOptions, VerbMatching};
        let with = |mode| match Router::with_options(
            BINDINGS,
            RouterOptions::default().with_verb_matching(mode),
        ) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        // (HTTP method, path, [Declared, Registered, Any] outcome: binding and name, or status)
        type VerbCase = (
            &'static str,
            &'static str,
            [Result<(&'static str, &'static str), u16>; 3],
        );
        let cases: &[VerbCase] = &[
            (
                "GET",
                "/v1/projects/p/operations/x:cancel",
                [
                    Ok(("Get", "projects/p/operations/x:cancel")),
                    Err(405),
                    Err(405),
                ],
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:cancel",
                [
                    Ok(("Cancel", "projects/p/operations/x")),
                    Ok(("Cancel", "projects/p/operations/x")),
                    Ok(("Cancel", "projects/p/operations/x")),
                ],
            ),
            (
                "POST",
                "/v1/projects/p/operations/x:other",
                [
                    Ok(("Update", "projects/p/operations/x:other")),
                    Ok(("Update", "projects/p/operations/x:other")),
                    Err(404),
                ],
            ),
            (
                "GET",
                "/v1/projects/p/operations/x:cancel/y",
                [
                    Ok(("Get", "projects/p/operations/x:cancel/y")),
                    Ok(("Get", "projects/p/operations/x:cancel/y")),
                    Ok(("Get", "projects/p/operations/x:cancel/y")),
                ],
            ),
        ];
        let modes = [
            VerbMatching::Declared,
            VerbMatching::Registered,
            VerbMatching::Any,
        ];
        for (method, path, outcomes) in cases {
            for (mode, expected) in modes.iter().zip(outcomes) {
                let router = with(*mode);
                assert_eq!(router.options().verb_matching, *mode);
                match (router.route(method, path), expected) {
                    (Ok(m), Ok((binding, name))) => {
                        assert_eq!(m.binding.method, *binding, "{mode:?} {method} {path}");
                        assert_eq!(m.variables, vec![("name".to_string(), name.to_string())]);
                        assert_eq!(m.options().verb_matching, *mode);
                    }
                    (Err(e), Err(status)) => {
                        assert_eq!(
                            e.status().as_u16(),
                            *status,
                            "{mode:?} {method} {path}: {e}"
                        )
                    }
                    (got, want) => panic!("{mode:?} {method} {path}: got {got:?}, want {want:?}"),
                }
            }
        }
    }
}
