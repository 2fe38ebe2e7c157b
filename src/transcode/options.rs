//! How strictly templates parse and paths route: `google/api/http.proto`'s text by default,
//! or the behaviour of Envoy's gRPC-JSON transcoder (grpc-httpjson-transcoding, also behind
//! ESPv2) for deployments whose clients were written against it.

/// How the values of path variables are percent-decoded on the server side.
///
/// A single-segment variable (`{x}`, `{x=*}`) is always fully decoded; the mode decides what
/// stays encoded in a multi-segment one (`{name=projects/*/operations/**}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PathDecoding {
    /// Decode everything except `%2F`/`%2f`, as `google/api/http.proto` states (Envoy calls
    /// this mode `kAllCharactersExceptSlash`). With it, matching an expanded path gives back
    /// the very value that was expanded.
    #[default]
    AllButSlash,
    /// Keep the RFC 6570 reserved characters (`!#$&'()*+,/:;=?@[]`) encoded and decode the
    /// rest: Envoy's default (`kAllCharactersExceptReserved`).
    AllButReserved,
    /// Decode everything, `%2F` included (Envoy's `kAllCharacters`).
    All,
}

impl PathDecoding {
    /// Whether the byte an escape stands for stays encoded in a multi-segment value.
    pub(crate) fn keeps(self, byte: u8) -> bool {
        match self {
            PathDecoding::AllButSlash => byte == b'/',
            PathDecoding::AllButReserved => b"!#$&'()*+,/:;=?@[]".contains(&byte),
            PathDecoding::All => false,
        }
    }
}

/// When the text after the last `:` of a request path is a custom verb rather than part of
/// the last segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerbMatching {
    /// Template by template, as `google/api/http.proto` reads: a template that declares a verb
    /// takes the text after the last `:` of the last segment as its verb; a template without
    /// one takes the `:` as an ordinary character. So `GET /v1/{name=**}` matches
    /// `/v1/x:cancel` with `name = "x:cancel"` even when another binding declares `:cancel`.
    #[default]
    Declared,
    /// As Envoy does by default: the suffix is a verb for every template when any binding of
    /// the router declares that verb (then only templates with that verb match), and part of
    /// the last segment otherwise.
    Registered,
    /// As Envoy with `match_unregistered_custom_verb`: any `:suffix` after the last `/` is a
    /// verb, declared or not, so only templates with that verb match.
    Any,
}

/// Options of a [`Router`](super::Router) (and of [`PathTemplate`](super::PathTemplate)
/// parsing and matching): [`Default`] follows `google/api/http.proto`'s text, and
/// [`envoy`](Self::envoy) gives the defaults of Envoy's transcoder.
///
/// ```
/// use eeops::transcode::{HttpBinding, PathDecoding, Router, RouterOptions, VerbMatching};
///
/// static BINDINGS: &[HttpBinding] = &[HttpBinding {
///     method: "pkg.Svc.Get",
///     http_method: "GET",
///     template: "/v1/{name=things/**}",
///     body: "",
///     response_body: "",
///     api_version: "",
/// }];
/// let path = "/v1/things/a/b%3Ac/";
///
/// // http.proto: no trailing slash, `%3A` decoded.
/// let strict = Router::new(BINDINGS)?;
/// assert!(strict.route("GET", path).is_err());
///
/// // Envoy: trailing slashes ignored, reserved characters kept encoded.
/// let envoy = Router::with_options(BINDINGS, RouterOptions::envoy())?;
/// assert_eq!(envoy.route("GET", path).unwrap().variables[0].1, "things/a/b%3Ac");
///
/// // Or pick option by option.
/// let options = RouterOptions::default()
///     .with_trailing_slash(true)
///     .with_path_decoding(PathDecoding::All)
///     .with_verb_matching(VerbMatching::Declared);
/// let mixed = Router::with_options(BINDINGS, options)?;
/// assert_eq!(mixed.route("GET", path).unwrap().variables[0].1, "things/a/b:c");
/// # Ok::<(), eeops::transcode::TemplateError>(())
/// ```
///
/// `tests/transcode_envoy_cases.rs` restates the cases of Envoy's own template and
/// path-matcher tests and names, row by row, the options each needs. Where eeops still
/// differs from Envoy with [`envoy`](Self::envoy), by choice:
///
/// * a template registered twice for one HTTP method routes to the earlier binding (Envoy
///   routes it nowhere);
/// * literal segments and verbs compare after percent-decoding (`/%761/x` matches `/v1/x`;
///   Envoy compares them as sent);
/// * a malformed escape (`%ZZ`) or a value that does not decode to UTF-8 routes nowhere
///   (Envoy passes the text through);
/// * a query parameter without `=` reads as `name=`, an empty value (Envoy skips it), and
///   one that names no field is refused unless the server ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RouterOptions {
    /// How multi-segment path variables are decoded.
    pub path_decoding: PathDecoding,
    /// When a `:suffix` of a path is a custom verb.
    pub verb_matching: VerbMatching,
    /// Ignore trailing slashes of a request path (`/v1/a/` routes as `/v1/a`), as Envoy
    /// does. http.proto has none: off by default.
    pub trailing_slash: bool,
    /// Let a `**` that ends a template match zero segments (`/v1/**` matches `/v1` and
    /// `/v1/`; `{name=**}` then binds an empty value), as Envoy does. Off by default: a `**`
    /// stands for one or more segments.
    pub deep_wildcard_matches_empty: bool,
    /// Accept templates with literal segments after `**` (`/v1/{name=**}/items`,
    /// `/v1/{name=a/**/b}`), and the root template `/`, as Envoy does; http.proto's grammar
    /// has neither. Off by default.
    pub literals_after_deep_wildcard: bool,
    /// Let wildcards match empty segments and `.`/`..` (once decoded) segments, as Envoy
    /// does. Off by default: such paths route nowhere, so a value never smuggles a path
    /// traversal or an empty id.
    pub lenient_segments: bool,
    /// Decode `+` in query keys and values as a space (HTML form encoding, what the default
    /// does and most HTTP clients expect); Envoy's default keeps it a `+`.
    pub query_plus_as_space: bool,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            path_decoding: PathDecoding::AllButSlash,
            verb_matching: VerbMatching::Declared,
            trailing_slash: false,
            deep_wildcard_matches_empty: false,
            literals_after_deep_wildcard: false,
            lenient_segments: false,
            query_plus_as_space: true,
        }
    }
}

impl RouterOptions {
    /// The defaults of Envoy's gRPC-JSON transcoder: reserved characters kept encoded in
    /// multi-segment values, verbs as registered by any binding, trailing slashes ignored, `**`
    /// matching zero segments at the end, literals after `**`, empty and dot segments matched,
    /// `+` kept in queries.
    ///
    /// ```
    /// use eeops::transcode::{PathDecoding, RouterOptions, VerbMatching};
    ///
    /// let envoy = RouterOptions::envoy();
    /// assert_eq!(envoy.path_decoding, PathDecoding::AllButReserved);
    /// assert_eq!(envoy.verb_matching, VerbMatching::Registered);
    /// assert!(!envoy.query_plus_as_space);
    /// assert_ne!(envoy, RouterOptions::default());
    /// ```
    pub fn envoy() -> Self {
        RouterOptions {
            path_decoding: PathDecoding::AllButReserved,
            verb_matching: VerbMatching::Registered,
            trailing_slash: true,
            deep_wildcard_matches_empty: true,
            literals_after_deep_wildcard: true,
            lenient_segments: true,
            query_plus_as_space: false,
        }
    }

    /// Sets [`path_decoding`](Self::path_decoding).
    pub fn with_path_decoding(mut self, v: PathDecoding) -> Self {
        self.path_decoding = v;
        self
    }

    /// Sets [`verb_matching`](Self::verb_matching).
    pub fn with_verb_matching(mut self, v: VerbMatching) -> Self {
        self.verb_matching = v;
        self
    }

    /// Sets [`trailing_slash`](Self::trailing_slash).
    pub fn with_trailing_slash(mut self, v: bool) -> Self {
        self.trailing_slash = v;
        self
    }

    /// Sets [`deep_wildcard_matches_empty`](Self::deep_wildcard_matches_empty).
    pub fn with_deep_wildcard_matches_empty(mut self, v: bool) -> Self {
        self.deep_wildcard_matches_empty = v;
        self
    }

    /// Sets [`literals_after_deep_wildcard`](Self::literals_after_deep_wildcard).
    pub fn with_literals_after_deep_wildcard(mut self, v: bool) -> Self {
        self.literals_after_deep_wildcard = v;
        self
    }

    /// Sets [`lenient_segments`](Self::lenient_segments).
    pub fn with_lenient_segments(mut self, v: bool) -> Self {
        self.lenient_segments = v;
        self
    }

    /// Sets [`query_plus_as_space`](Self::query_plus_as_space).
    pub fn with_query_plus_as_space(mut self, v: bool) -> Self {
        self.query_plus_as_space = v;
        self
    }
}
