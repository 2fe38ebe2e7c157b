//! Path templates of `google.api.HttpRule`: parsing, client-side expansion and server-side
//! matching.
//!
//! The grammar is the one `google/api/http.proto` gives:
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! A template is parsed once into a [`PathTemplate`], which then expands field values into
//! request paths (client side) and matches request paths back into field values (server side)
//! without parsing the template again.
//!
//! # Encoding rules
//!
//! * A *single-segment* variable (`{x}`, `{x=*}`, `{x=literal}`) holds one opaque segment: on
//!   expansion every byte outside `[-_.~0-9A-Za-z]` is percent-encoded, `/` included, and on
//!   matching the segment is fully percent-decoded.
//! * A *multi-segment* variable (a pattern of more than one segment, or one with `**`) is
//!   checked segment by segment against its pattern, encoded the same way except that `/` is
//!   kept, and on matching decoded except for `%2F`/`%2f`, which stay as they are.
//!
//! With these rules, matching the expansion of any value the template accepts gives back that
//! very value.

use std::fmt;

use super::options::{RouterOptions, VerbMatching};
use crate::codec;

/// One segment of a path template, after variables are flattened into their patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[doc(hidden)]
pub enum Segment {
    /// A literal segment, which must appear as written.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Wildcard,
    /// `**`: one or more non-empty segments. Only literal segments may follow it, and only
    /// when [`RouterOptions::literals_after_deep_wildcard`] allows them; by default it is the
    /// last segment of a template.
    DeepWildcard,
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Literal(text) => f.write_str(text),
            Segment::Wildcard => f.write_str("*"),
            Segment::DeepWildcard => f.write_str("**"),
        }
    }
}

/// A variable of a path template: a field path and the segments it binds.
///
/// ```
/// use eeops::transcode::PathTemplate;
///
/// let t = PathTemplate::parse("/v1/{name=projects/*/operations/**}:cancel")?;
/// let var = &t.variables()[0];
/// assert_eq!(var.field_path(), "name");
/// assert_eq!(var.pattern(), "projects/*/operations/**");
/// assert!(var.is_multi_segment());
/// # Ok::<(), eeops::transcode::TemplateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Variable {
    field_path: String,
    segments: Vec<Segment>,
    pattern: String,
    expected: String,
    multi: bool,
    /// Index of the first template segment this variable binds.
    start: usize,
    /// One past the index of the last template segment this variable binds.
    end: usize,
}

impl Variable {
    /// The field path the variable binds, e.g. `name` or `book.id`.
    pub fn field_path(&self) -> &str {
        &self.field_path
    }

    /// The variable's pattern as canonical text, e.g. `*` or `projects/*/operations/**`.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The segments of the variable's pattern.
    #[doc(hidden)]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the variable spans more than one segment (its pattern has several segments or
    /// a `**`), which decides how its value is encoded and decoded.
    pub fn is_multi_segment(&self) -> bool {
        self.multi
    }

    /// A readable form of what the variable accepts, e.g.
    /// `projects/{project}/operations/{operation}`, used in error messages.
    pub fn expected_form(&self) -> &str {
        &self.expected
    }

    /// The template segments the variable binds: indexes into [`PathTemplate::segments`].
    pub(crate) fn span(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// Checks a value against the pattern without building anything.
    fn check(&self, value: &str) -> Result<(), ExpandErrorKind> {
        if value.is_empty() {
            return Err(ExpandErrorKind::Empty);
        }
        if !self.multi {
            if is_dot_segment(value) {
                return Err(ExpandErrorKind::DotSegment { index: 0 });
            }
            if let Some(Segment::Literal(lit)) = self.segments.first()
                && value != lit
            {
                return Err(ExpandErrorKind::LiteralMismatch {
                    index: 0,
                    expected: lit.clone(),
                });
            }
            return Ok(());
        }
        let total = value.split('/').count();
        let mut parts = value.split('/').enumerate().peekable();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::DeepWildcard => {
                    // `**` takes every part but those the literals after it need.
                    let tail = self.segments.len() - i - 1;
                    let mut taken = 0;
                    while let Some((index, part)) = parts.next_if(|(index, _)| index + tail < total)
                    {
                        check_part(index, part)?;
                        taken += 1;
                    }
                    if taken == 0 {
                        return Err(ExpandErrorKind::TooFewSegments);
                    }
                }
                Segment::Wildcard | Segment::Literal(_) => {
                    let Some((index, part)) = parts.next() else {
                        return Err(ExpandErrorKind::TooFewSegments);
                    };
                    check_part(index, part)?;
                    if let Segment::Literal(lit) = seg
                        && part != lit
                    {
                        return Err(ExpandErrorKind::LiteralMismatch {
                            index,
                            expected: lit.clone(),
                        });
                    }
                }
            }
        }
        if parts.next().is_some() {
            return Err(ExpandErrorKind::TooManySegments);
        }
        Ok(())
    }
}

fn check_part(index: usize, part: &str) -> Result<(), ExpandErrorKind> {
    if part.is_empty() {
        Err(ExpandErrorKind::EmptySegment { index })
    } else if is_dot_segment(part) {
        Err(ExpandErrorKind::DotSegment { index })
    } else {
        Ok(())
    }
}

fn is_dot_segment(s: &str) -> bool {
    s == "." || s == ".."
}

/// What [`PathTemplate::expand`] builds a template segment from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Item {
    Literal(String),
    Variable(usize),
    Anonymous(Segment),
}

/// A parsed `google.api.HttpRule` path template, ready to expand and match.
///
/// ```
/// use eeops::transcode::PathTemplate;
///
/// let t = PathTemplate::parse("/v1/{name=projects/*/operations/**}:cancel")?;
/// assert_eq!(t.verb(), Some("cancel"));
///
/// // Client side: a name becomes a path, escaped as http.proto says.
/// let path = t.expand(|field| (field == "name").then_some("projects/p/operations/x:y"))?;
/// assert_eq!(path, "/v1/projects/p/operations/x%3Ay:cancel");
///
/// // Server side: the path gives the name back.
/// let vars = t.match_path(&path).unwrap();
/// assert_eq!(vars, vec![("name".to_string(), "projects/p/operations/x:y".to_string())]);
///
/// // Names that do not fit the pattern never reach the path.
/// let err = t.expand(|_| Some("operations/x")).unwrap_err();
/// assert!(err.to_string().contains("projects/{project}/operations/{operation}"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    items: Vec<Item>,
    verb: Option<String>,
}

impl PathTemplate {
    /// Parses a path template.
    ///
    /// `{x}` is short for `{x=*}`. Malformed templates are refused with a [`TemplateError`]
    /// naming the byte position (0-based) and the problem.
    ///
    /// ```
    /// use eeops::transcode::PathTemplate;
    ///
    /// let t = PathTemplate::parse("/v1/{name=projects/*}/operations")?;
    /// assert_eq!(t.to_string(), "/v1/{name=projects/*}/operations");
    /// assert_eq!(PathTemplate::parse("/v1/{name}")?.to_string(), "/v1/{name}");
    ///
    /// let err = PathTemplate::parse("/v1/**/x").unwrap_err();
    /// assert_eq!(err.position(), 4);
    /// # Ok::<(), eeops::transcode::TemplateError>(())
    /// ```
    pub fn parse(template: &str) -> Result<PathTemplate, TemplateError> {
        Parser::new(template, false).parse()
    }

    /// Parses a path template with [`RouterOptions`]: with
    /// [`literals_after_deep_wildcard`](RouterOptions::literals_after_deep_wildcard), literal
    /// segments may follow a `**` (`/v1/{name=**}/items`, `/v1/{name=a/**/b}`) and `/` alone
    /// is a template, as Envoy's transcoder accepts; the other options only affect matching.
    ///
    /// ```
    /// use eeops::transcode::{PathTemplate, RouterOptions};
    ///
    /// assert!(PathTemplate::parse("/v1/{name=**}/items").is_err());
    /// let envoy = RouterOptions::envoy();
    /// let t = PathTemplate::parse_with("/v1/{name=**}/items", &envoy)?;
    /// let vars = t.match_path_with("/v1/a/b/items", &envoy).unwrap();
    /// assert_eq!(vars, [("name".to_string(), "a/b".to_string())]);
    /// assert_eq!(t.expand(|_| Some("a/b"))?, "/v1/a/b/items");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_with(
        template: &str,
        options: &RouterOptions,
    ) -> Result<PathTemplate, TemplateError> {
        Parser::new(template, options.literals_after_deep_wildcard).parse()
    }

    /// The variables, in the order they appear.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The variable bound to `field_path`, if any.
    pub fn variable(&self, field_path: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.field_path == field_path)
    }

    /// The verb (the text after the final `:`), if the template declares one.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// All segments of the template with variables replaced by their patterns, in order.
    #[doc(hidden)]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The canonical text of the template (`{x=*}` written as `{x}`), also what
    /// [`Display`](fmt::Display) writes.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Builds the request path, asking `lookup` for the value of each variable's field path.
    ///
    /// Every value is checked against its variable's pattern before anything is built: a
    /// missing or empty value, a value with the wrong literal segments, too few or too many
    /// segments, an empty segment or a `.`/`..` segment is refused with an [`ExpandError`]
    /// naming the field, the value and the expected form. Accepted values are percent-encoded
    /// (see the [`transcode`](crate::transcode) module), so a value never changes the path beyond its
    /// variable.
    ///
    /// ```
    /// use eeops::transcode::PathTemplate;
    ///
    /// let t = PathTemplate::parse("/v1/{name=projects/*}/operations")?;
    /// assert_eq!(t.expand(|_| Some("projects/my project"))?, "/v1/projects/my%20project/operations");
    /// assert!(t.expand(|_| Some("projects/a/b")).is_err());
    /// assert!(t.expand(|_| None::<&str>).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn expand<F, V>(&self, lookup: F) -> Result<String, ExpandError>
    where
        F: Fn(&str) -> Option<V>,
        V: AsRef<str>,
    {
        if let Some(Item::Anonymous(seg)) =
            self.items.iter().find(|i| matches!(i, Item::Anonymous(_)))
        {
            return Err(ExpandError(Box::new(ExpandErrorInner {
                field: String::new(),
                value: None,
                pattern: seg.to_string(),
                expected: seg.to_string(),
                kind: ExpandErrorKind::AnonymousWildcard,
            })));
        }
        let mut values = Vec::with_capacity(self.variables.len());
        let mut capacity = self.text.len();
        for var in &self.variables {
            let Some(value) = lookup(&var.field_path) else {
                return Err(ExpandError::new(var, None, ExpandErrorKind::Missing));
            };
            let text = value.as_ref();
            if let Err(kind) = var.check(text) {
                return Err(ExpandError::new(var, Some(text), kind));
            }
            capacity += text.len() * 3;
            values.push(value);
        }
        let mut out = String::with_capacity(capacity);
        for item in &self.items {
            out.push('/');
            match item {
                Item::Literal(lit) => out.push_str(lit),
                Item::Anonymous(_) => {}
                Item::Variable(index) => {
                    let var = &self.variables[*index];
                    let value = values[*index].as_ref();
                    if var.multi {
                        out.extend(codec::encode_multi_segment(value));
                    } else {
                        out.extend(codec::encode_segment(value));
                    }
                }
            }
        }
        if out.is_empty() {
            // The root template `/`.
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        Ok(out)
    }

    /// Matches a raw request path (still percent-encoded, without the query) and returns each
    /// variable's field path with its decoded value, or `None` when the path does not match.
    ///
    /// When the template declares a verb, the verb is the text after the last `:` of the last
    /// segment; otherwise a `:` is an ordinary character of its segment. Literal segments and
    /// the verb compare after percent-decoding (a segment without `%` compares byte for byte).
    /// Single-segment values are fully decoded; multi-segment values are decoded except
    /// `%2F`/`%2f`, which stay as they are. Invalid percent-encoding, a value that does not
    /// decode to UTF-8, an empty segment or a `.`/`..` segment means no match.
    ///
    /// ```
    /// use eeops::transcode::PathTemplate;
    ///
    /// let t = PathTemplate::parse("/v1/{name=projects/*/operations/**}:cancel")?;
    /// let vars = t.match_path("/v1/projects/p/operations/a/b%2Fc:cancel").unwrap();
    /// assert_eq!(vars[0].1, "projects/p/operations/a/b%2Fc");
    /// assert!(t.match_path("/v1/projects/p/operations/a").is_none());
    /// # Ok::<(), eeops::transcode::TemplateError>(())
    /// ```
    pub fn match_path(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.match_path_with(path, &DEFAULT_OPTIONS)
    }

    /// [`match_path`](Self::match_path) with [`RouterOptions`]: how multi-segment values are
    /// decoded, whether a trailing slash is ignored, whether a final `**` matches zero
    /// segments, whether empty and dot segments match, and when a `:suffix` is a verb (alone,
    /// a template knows only its own verb, so [`VerbMatching::Registered`] reads as
    /// [`VerbMatching::Declared`] here; a [`Router`](super::Router) knows them all).
    ///
    /// ```
    /// use eeops::transcode::{PathDecoding, PathTemplate, RouterOptions};
    ///
    /// let t = PathTemplate::parse("/v1/{name=projects/*/operations/**}")?;
    /// let path = "/v1/projects/p/operations/a%3Ab%2Fc%20d";
    /// let value = |options: &RouterOptions| t.match_path_with(path, options).unwrap()[0].1.clone();
    /// assert_eq!(value(&RouterOptions::default()), "projects/p/operations/a:b%2Fc d");
    /// assert_eq!(value(&RouterOptions::envoy()), "projects/p/operations/a%3Ab%2Fc d");
    /// let all = RouterOptions::default().with_path_decoding(PathDecoding::All);
    /// assert_eq!(value(&all), "projects/p/operations/a:b/c d");
    /// # Ok::<(), eeops::transcode::TemplateError>(())
    /// ```
    pub fn match_path_with(
        &self,
        path: &str,
        options: &RouterOptions,
    ) -> Option<Vec<(String, String)>> {
        let split = match options.verb_matching {
            VerbMatching::Declared | VerbMatching::Registered => None,
            VerbMatching::Any => Some(split_verb(path)),
        };
        self.match_split(path, split, options)
    }

    /// Matches `path`; `split` is the path cut before its verb and the verb when the router
    /// has decided it (`None`: the template decides by its own verb).
    pub(crate) fn match_split(
        &self,
        path: &str,
        split: Option<(&str, Option<&str>)>,
        options: &RouterOptions,
    ) -> Option<Vec<(String, String)>> {
        let body = match split {
            None => self.strip_own_verb(path)?,
            Some((before, verb)) => {
                match (verb, &self.verb) {
                    (None, None) => {}
                    (Some(got), Some(want)) if literal_eq(got, want) => {}
                    _ => return None,
                }
                before
            }
        };
        let body = body.strip_prefix('/')?;
        // Spans live on the stack for the usual handful of variables, so a path that does
        // not match costs no allocation.
        let count = self.variables.len();
        let mut small = [(0usize, 0usize); 4];
        let mut large = Vec::new();
        let spans: &mut [(usize, usize)] = if count <= small.len() {
            &mut small[..count]
        } else {
            large.resize(count, (0, 0));
            &mut large
        };
        let body = self.match_raw(body, options, spans)?;
        let lenient = options.lenient_segments;
        let mut out = Vec::with_capacity(count);
        for (var, &(start, end)) in self.variables.iter().zip(spans.iter()) {
            let raw = &body[start..end];
            let value = if var.multi {
                decode(raw, |b| options.path_decoding.keeps(b))?
            } else {
                decode(raw, |_| false)?
            };
            let valid = lenient
                || if var.multi {
                    // Empty only when a final `**` matched zero segments, which the options
                    // allowed.
                    value.is_empty()
                        || value
                            .as_bytes()
                            .split(|&b| b == b'/')
                            .all(|p| !p.is_empty() && p != b"." && p != b"..")
                } else {
                    !value.is_empty() && !is_dot_segment(&value)
                };
            if !valid {
                return None;
            }
            out.push((var.field_path.clone(), value));
        }
        Some(out)
    }

    /// The path without the template's own verb: the text after the last `:` of the last
    /// segment must be that verb. A template without a verb keeps the path whole.
    fn strip_own_verb<'p>(&self, path: &'p str) -> Option<&'p str> {
        match &self.verb {
            None => Some(path),
            Some(verb) => match split_verb(path) {
                (before, Some(got)) if literal_eq(got, verb) => Some(before),
                _ => None,
            },
        }
    }

    /// Whether `path` matches, by the rules of [`match_path`](Self::match_path).
    pub fn matches(&self, path: &str) -> bool {
        self.match_path(path).is_some()
    }

    /// Matches the structure of `body` (the path without its leading `/` and its verb) and
    /// records each variable's byte span within the returned slice (`body`, less any trailing
    /// slashes the options ignore).
    fn match_raw<'p>(
        &self,
        body: &'p str,
        options: &RouterOptions,
        spans: &mut [(usize, usize)],
    ) -> Option<&'p str> {
        let body = if options.trailing_slash {
            body.trim_end_matches('/')
        } else {
            body
        };
        let lenient = options.lenient_segments;
        let len = body.len();
        // The start of the next part not yet matched; `None` once every part is.
        let mut next = if body.is_empty() { None } else { Some(0) };
        let count = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            let (start, end);
            match seg {
                Segment::DeepWildcard => {
                    // Only literals follow a `**`: it takes every part but theirs.
                    let tail = count - i - 1;
                    match next {
                        None if tail == 0 && options.deep_wildcard_matches_empty => {
                            (start, end) = (len, len);
                        }
                        None => return None,
                        Some(from) => {
                            let mut cut = len;
                            for _ in 0..tail {
                                cut = from + rfind_slash(&body[from..cut])?;
                            }
                            let taken = &body[from..cut];
                            if !lenient
                                && taken.as_bytes().split(|&b| b == b'/').any(<[u8]>::is_empty)
                            {
                                return None;
                            }
                            (start, end) = (from, cut);
                            next = (tail > 0).then_some(cut + 1);
                        }
                    }
                }
                Segment::Wildcard | Segment::Literal(_) => {
                    let from = next?;
                    let to = find_slash(&body[from..]).map_or(len, |j| from + j);
                    let part = &body[from..to];
                    match seg {
                        Segment::Literal(lit) => {
                            if !literal_eq(part, lit) {
                                return None;
                            }
                        }
                        _ => {
                            if part.is_empty() && !lenient {
                                return None;
                            }
                        }
                    }
                    (start, end) = (from, to);
                    next = (to < len).then_some(to + 1);
                }
            }
            for (var, span) in self.variables.iter().zip(spans.iter_mut()) {
                if var.start == i {
                    span.0 = start;
                }
                if var.end == i + 1 {
                    span.1 = end;
                }
            }
        }
        if next.is_some() {
            return None;
        }
        Some(body)
    }
}

/// The options [`PathTemplate::match_path`] uses: `google/api/http.proto`'s text.
static DEFAULT_OPTIONS: std::sync::LazyLock<RouterOptions> =
    std::sync::LazyLock::new(RouterOptions::default);

/// Splits a path into what comes before its verb and the verb: the text after the last `:`
/// that follows the last `/`, when there is such text.
pub(crate) fn split_verb(path: &str) -> (&str, Option<&str>) {
    let last = rfind_slash(path).map_or(0, |i| i + 1);
    match path.as_bytes()[last..].iter().rposition(|&b| b == b':') {
        Some(colon) if last + colon + 1 < path.len() => {
            (&path[..last + colon], Some(&path[last + colon + 1..]))
        }
        _ => (path, None),
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for PathTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PathTemplate::parse(s)
    }
}

/// Compares a raw (percent-encoded) segment with a literal: byte for byte when the segment has
/// no `%`, after full decoding otherwise.
fn literal_eq(raw: &str, literal: &str) -> bool {
    // A literal has no `%`, so an equal segment needs no decoding.
    raw == literal
        || (raw.as_bytes().contains(&b'%') && decode(raw, |_| false).is_some_and(|d| d == literal))
}

/// The first `/` of `s`. (A byte loop: paths are short, and `str::find` costs more to set up
/// than to run on them.)
fn find_slash(s: &str) -> Option<usize> {
    s.as_bytes().iter().position(|&b| b == b'/')
}

/// The last `/` of `s`.
fn rfind_slash(s: &str) -> Option<usize> {
    s.as_bytes().iter().rposition(|&b| b == b'/')
}

/// Percent-decodes `raw`, leaving as they are the escapes of bytes `keep` says to keep.
/// `None` for a malformed escape or a result that is not UTF-8.
fn decode(raw: &str, keep: impl Fn(u8) -> bool) -> Option<String> {
    codec::decode_strict(raw, false, keep)
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// Whether `b` may appear in a literal segment or verb of a template: unreserved characters
/// and the sub-delimiters other than `*`, plus `@`.
fn is_literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()+,;=@".contains(&b)
}

/// Why a path template was refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum TemplateErrorKind {
    /// The template does not start with `/`.
    MissingLeadingSlash,
    /// A `{` without its `}`.
    UnclosedBrace,
    /// A `}` without a `{`.
    UnopenedBrace,
    /// A `**` followed by another segment (with
    /// [`RouterOptions::literals_after_deep_wildcard`], by a non-literal segment).
    DeepWildcardNotLast,
    /// A `{` inside a variable.
    NestedVariable,
    /// An empty segment (`//`, a trailing `/`, `{x=}`).
    EmptySegment,
    /// A `.` or `..` literal segment.
    DotSegment,
    /// A second variable for a field path already bound (or a path inside or around it).
    DuplicateVariable(String),
    /// A variable with no field path (`{}`, `{=*}`).
    EmptyFieldPath,
    /// A field path that is not `IDENT { "." IDENT }`.
    BadIdentifier,
    /// A `:` with no verb after it.
    EmptyVerb,
    /// `*` or `**` sharing a segment with other text.
    PartialWildcard,
    /// A character that is not allowed where it appears.
    UnexpectedChar(char),
}

impl fmt::Display for TemplateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingLeadingSlash => f.write_str("a template must start with `/`"),
            Self::UnclosedBrace => f.write_str("`{` is never closed"),
            Self::UnopenedBrace => f.write_str("`}` without a matching `{`"),
            Self::DeepWildcardNotLast => f.write_str(
                "`**` must be the last segment (or, where the options allow, be followed by \
                 literal segments only)",
            ),
            Self::NestedVariable => f.write_str("variables cannot be nested"),
            Self::EmptySegment => f.write_str("empty segment"),
            Self::DotSegment => f.write_str("`.` and `..` are not allowed as segments"),
            Self::DuplicateVariable(path) => write!(f, "field `{path}` is bound more than once"),
            Self::EmptyFieldPath => f.write_str("a variable needs a field path"),
            Self::BadIdentifier => {
                f.write_str("a field path is identifiers ([A-Za-z_][A-Za-z0-9_]*) joined by `.`")
            }
            Self::EmptyVerb => f.write_str("empty verb after `:`"),
            Self::PartialWildcard => f.write_str("`*` and `**` must be whole segments"),
            Self::UnexpectedChar(c) => write!(f, "unexpected character `{c}`"),
        }
    }
}

/// A malformed path template: where and what.
///
/// ```
/// use eeops::transcode::PathTemplate;
///
/// let err = PathTemplate::parse("/v1/{name=projects/*").unwrap_err();
/// assert_eq!(err.position(), 4);
/// assert_eq!(err.template(), "/v1/{name=projects/*");
/// assert!(err.to_string().ends_with("at byte 4: `{` is never closed"), "{err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid path template `{template}` at byte {position}: {kind}")]
pub struct TemplateError {
    template: String,
    position: usize,
    kind: TemplateErrorKind,
}

impl TemplateError {
    /// The byte offset (0-based) in the template where the problem is.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What is wrong.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn kind(&self) -> &TemplateErrorKind {
        &self.kind
    }

    /// The template text as given.
    pub fn template(&self) -> &str {
        &self.template
    }
}

/// Why a value was refused by [`PathTemplate::expand`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum ExpandErrorKind {
    /// No value for the field.
    Missing,
    /// The value is empty.
    Empty,
    /// Segment `index` (0-based, of the value) is empty.
    EmptySegment {
        /// Which segment of the value.
        index: usize,
    },
    /// Segment `index` of the value is `.` or `..`.
    DotSegment {
        /// Which segment of the value.
        index: usize,
    },
    /// Segment `index` of the value differs from the pattern's literal.
    LiteralMismatch {
        /// Which segment of the value.
        index: usize,
        /// The literal the pattern has there.
        expected: String,
    },
    /// The value has fewer segments than the pattern needs.
    TooFewSegments,
    /// The value has more segments than the pattern allows.
    TooManySegments,
    /// The template has a `*` or `**` outside any variable, which no field fills.
    AnonymousWildcard,
}

impl fmt::Display for ExpandErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no value"),
            Self::Empty => f.write_str("the value is empty"),
            Self::EmptySegment { index } => write!(f, "segment {index} is empty"),
            Self::DotSegment { index } => write!(f, "segment {index} is `.` or `..`"),
            Self::LiteralMismatch { index, expected } => {
                write!(f, "segment {index} should be `{expected}`")
            }
            Self::TooFewSegments => f.write_str("too few segments"),
            Self::TooManySegments => f.write_str("too many segments"),
            Self::AnonymousWildcard => {
                f.write_str("the template has a wildcard outside any variable")
            }
        }
    }
}

/// A field value that does not fit its variable's pattern, so no path was built.
///
/// ```
/// use eeops::transcode::PathTemplate;
///
/// let t = PathTemplate::parse("/v1/{name=projects/*/operations/**}")?;
/// let err = t.expand(|_| Some("projects//operations/x")).unwrap_err();
/// assert_eq!(err.field(), "name");
/// assert_eq!(err.value(), Some("projects//operations/x"));
/// assert_eq!(err.pattern(), "projects/*/operations/**");
/// assert_eq!(err.expected(), "projects/{project}/operations/{operation}");
/// assert!(err.to_string().ends_with("segment 1 is empty"), "{err}");
/// # Ok::<(), eeops::transcode::TemplateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExpandError(Box<ExpandErrorInner>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ExpandErrorInner {
    field: String,
    value: Option<String>,
    pattern: String,
    expected: String,
    kind: ExpandErrorKind,
}

impl ExpandError {
    fn new(var: &Variable, value: Option<&str>, kind: ExpandErrorKind) -> Self {
        ExpandError(Box::new(ExpandErrorInner {
            field: var.field_path.clone(),
            value: value.map(str::to_owned),
            pattern: var.pattern.clone(),
            expected: var.expected.clone(),
            kind,
        }))
    }

    /// The field path of the refused variable.
    pub fn field(&self) -> &str {
        &self.0.field
    }

    /// The refused value (`None` when the value was missing).
    pub fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }

    /// The variable's pattern, e.g. `projects/*/operations/**`.
    pub fn pattern(&self) -> &str {
        &self.0.pattern
    }

    /// The readable form of the pattern, e.g. `projects/{project}/operations/{operation}`.
    pub fn expected(&self) -> &str {
        &self.0.expected
    }

    /// What is wrong with the value.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn kind(&self) -> &ExpandErrorKind {
        &self.0.kind
    }
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.value {
            None if self.0.kind == ExpandErrorKind::AnonymousWildcard => write!(
                f,
                "cannot expand: the template has `{}` outside any variable",
                self.0.pattern
            ),
            None => write!(
                f,
                "field `{}` has no value; expected {} (pattern `{}`)",
                self.0.field, self.0.expected, self.0.pattern
            ),
            Some(value) => write!(
                f,
                "field `{}`: `{}` is not of the form {} (pattern `{}`): {}",
                self.0.field, value, self.0.expected, self.0.pattern, self.0.kind
            ),
        }
    }
}

impl std::error::Error for ExpandError {}

/// A readable form of a variable's pattern: each wildcard is named after the literal before it
/// (`projects/*` gives `projects/{project}`), or after the field when nothing precedes it.
fn expected_form(field_path: &str, segments: &[Segment]) -> String {
    let field = field_path.rsplit('.').next().unwrap_or(field_path);
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        match seg {
            Segment::Literal(lit) => {
                out.push_str(lit);
                previous = Some(lit);
            }
            Segment::Wildcard | Segment::DeepWildcard => {
                let name = match previous {
                    Some(p) if p.len() > 1 && p.ends_with('s') => &p[..p.len() - 1],
                    Some(p) => p,
                    None => field,
                };
                out.push('{');
                out.push_str(name);
                out.push('}');
                previous = None;
            }
        }
    }
    out
}

/// The template parser: a cursor over the bytes plus what has been built so far.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    items: Vec<Item>,
    /// Byte position of a `**` already seen, if any.
    deep_at: Option<usize>,
    /// Whether literal segments may follow a `**`, and `/` alone is a template.
    lenient: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, lenient: bool) -> Self {
        Parser {
            lenient,
            text,
            bytes: text.as_bytes(),
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
            items: Vec::new(),
            deep_at: None,
        }
    }

    fn error(&self, position: usize, kind: TemplateErrorKind) -> TemplateError {
        TemplateError {
            template: self.text.to_owned(),
            position,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn unexpected(&self) -> TemplateError {
        let c = self.text[self.pos..].chars().next().unwrap_or('\0');
        self.error(self.pos, TemplateErrorKind::UnexpectedChar(c))
    }

    fn parse(mut self) -> Result<PathTemplate, TemplateError> {
        if self.peek() != Some(b'/') {
            return Err(self.error(0, TemplateErrorKind::MissingLeadingSlash));
        }
        self.pos = 1;
        if self.lenient && self.text == "/" {
            return Ok(PathTemplate {
                text: "/".to_owned(),
                segments: Vec::new(),
                variables: Vec::new(),
                items: Vec::new(),
                verb: None,
            });
        }
        self.parse_segments(false)?;
        let mut verb = None;
        match self.peek() {
            None => {}
            Some(b':') => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(is_literal_byte) {
                    self.pos += 1;
                }
                if self.pos < self.bytes.len() {
                    return Err(self.unexpected());
                }
                if start == self.pos {
                    return Err(self.error(start - 1, TemplateErrorKind::EmptyVerb));
                }
                verb = Some(self.text[start..].to_owned());
            }
            Some(b'}') => return Err(self.error(self.pos, TemplateErrorKind::UnopenedBrace)),
            Some(_) => return Err(self.unexpected()),
        }
        let mut text = String::with_capacity(self.text.len());
        for item in &self.items {
            text.push('/');
            match item {
                Item::Literal(lit) => text.push_str(lit),
                Item::Anonymous(seg) => text.push_str(&seg.to_string()),
                Item::Variable(i) => {
                    let var = &self.variables[*i];
                    text.push('{');
                    text.push_str(&var.field_path);
                    if var.pattern != "*" {
                        text.push('=');
                        text.push_str(&var.pattern);
                    }
                    text.push('}');
                }
            }
        }
        if let Some(verb) = &verb {
            text.push(':');
            text.push_str(verb);
        }
        Ok(PathTemplate {
            text,
            segments: self.segments,
            variables: self.variables,
            items: self.items,
            verb,
        })
    }

    /// `Segments`, stopping before `:`, `}` or the end.
    fn parse_segments(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            self.parse_segment(in_variable)?;
            if self.peek() == Some(b'/') {
                self.pos += 1;
            } else {
                return Ok(());
            }
        }
    }

    fn parse_segment(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        let start = self.pos;
        if let Some(deep) = self.deep_at {
            // Something follows a `**`; an empty segment is reported as such below. When
            // literals may follow, `push` refuses the rest.
            if !self.lenient && !matches!(self.peek(), None | Some(b'/')) {
                return Err(self.error(deep, TemplateErrorKind::DeepWildcardNotLast));
            }
        }
        match self.peek() {
            None | Some(b'/') | Some(b':') => {
                Err(self.error(start, TemplateErrorKind::EmptySegment))
            }
            Some(b'}') if in_variable => Err(self.error(start, TemplateErrorKind::EmptySegment)),
            Some(b'}') => Err(self.error(start, TemplateErrorKind::UnopenedBrace)),
            Some(b'{') if in_variable => Err(self.error(start, TemplateErrorKind::NestedVariable)),
            Some(b'{') => self.parse_variable(),
            Some(b'*') => {
                let deep = self.bytes.get(start + 1) == Some(&b'*');
                self.pos += if deep { 2 } else { 1 };
                if !matches!(self.peek(), None | Some(b'/' | b':' | b'}')) {
                    return Err(self.error(start, TemplateErrorKind::PartialWildcard));
                }
                if let Some(deep_at) = self.deep_at {
                    // Only literals may follow a `**`.
                    return Err(self.error(deep_at, TemplateErrorKind::DeepWildcardNotLast));
                }
                let seg = if deep {
                    self.deep_at = Some(start);
                    Segment::DeepWildcard
                } else {
                    Segment::Wildcard
                };
                self.push(seg, in_variable);
                Ok(())
            }
            Some(_) => {
                while self.peek().is_some_and(is_literal_byte) {
                    self.pos += 1;
                }
                match self.peek() {
                    None | Some(b'/' | b':' | b'}') => {}
                    Some(b'*') => {
                        return Err(self.error(self.pos, TemplateErrorKind::PartialWildcard));
                    }
                    Some(b'{') if in_variable => {
                        return Err(self.error(self.pos, TemplateErrorKind::NestedVariable));
                    }
                    Some(_) => return Err(self.unexpected()),
                }
                if self.pos == start {
                    return Err(self.unexpected());
                }
                let lit = &self.text[start..self.pos];
                if is_dot_segment(lit) {
                    return Err(self.error(start, TemplateErrorKind::DotSegment));
                }
                self.push(Segment::Literal(lit.to_owned()), in_variable);
                Ok(())
            }
        }
    }

    fn push(&mut self, seg: Segment, in_variable: bool) {
        if !in_variable {
            let item = match &seg {
                Segment::Literal(lit) => Item::Literal(lit.clone()),
                // A wildcard outside any variable: an anonymous variable, matched but never
                // expanded.
                Segment::Wildcard | Segment::DeepWildcard => Item::Anonymous(seg.clone()),
            };
            self.items.push(item);
        }
        self.segments.push(seg);
    }

    fn parse_variable(&mut self) -> Result<(), TemplateError> {
        let open = self.pos;
        self.pos += 1;
        let path_start = self.pos;
        loop {
            let ident_start = self.pos;
            match self.peek() {
                Some(b'a'..=b'z' | b'A'..=b'Z' | b'_') => self.pos += 1,
                Some(b'}' | b'=') if ident_start == path_start => {
                    return Err(self.error(ident_start, TemplateErrorKind::EmptyFieldPath));
                }
                None => return Err(self.error(open, TemplateErrorKind::UnclosedBrace)),
                Some(_) => return Err(self.error(ident_start, TemplateErrorKind::BadIdentifier)),
            }
            while self
                .peek()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                self.pos += 1;
            }
            if self.peek() == Some(b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let field_path = self.text[path_start..self.pos].to_owned();
        for var in &self.variables {
            let (a, b) = (var.field_path.as_str(), field_path.as_str());
            let overlaps = a == b
                || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'.')
                || (b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'.');
            if overlaps {
                return Err(self.error(
                    path_start,
                    TemplateErrorKind::DuplicateVariable(field_path.clone()),
                ));
            }
        }
        let first = self.segments.len();
        match self.peek() {
            Some(b'}') => {
                if let Some(deep_at) = self.deep_at {
                    return Err(self.error(deep_at, TemplateErrorKind::DeepWildcardNotLast));
                }
                self.segments.push(Segment::Wildcard)
            }
            Some(b'=') => {
                self.pos += 1;
                self.parse_segments(true)?;
                match self.peek() {
                    Some(b'}') => {}
                    None => return Err(self.error(open, TemplateErrorKind::UnclosedBrace)),
                    Some(_) => return Err(self.unexpected()),
                }
            }
            None => return Err(self.error(open, TemplateErrorKind::UnclosedBrace)),
            Some(_) => return Err(self.error(self.pos, TemplateErrorKind::BadIdentifier)),
        }
        self.pos += 1; // the `}`
        let segments = self.segments[first..].to_vec();
        let multi = segments.len() > 1 || segments.contains(&Segment::DeepWildcard);
        let pattern = segments
            .iter()
            .map(Segment::to_string)
            .collect::<Vec<_>>()
            .join("/");
        let expected = expected_form(&field_path, &segments);
        self.items.push(Item::Variable(self.variables.len()));
        self.variables.push(Variable {
            field_path,
            segments,
            pattern,
            expected,
            multi,
            start: first,
            end: self.segments.len(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// (template, path, the variables if it matches)
    type MatchCase = (
        &'static str,
        &'static str,
        Option<&'static [(&'static str, &'static str)]>,
    );
    /// (template, canonical text, [(field, pattern)], verb)
    type ParseCase = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
    );
    use super::*;
    use proptest::prelude::*;

    const CANCEL: &str = "/v1/{name=projects/*/operations/**}:cancel";

    fn t(text: &str) -> PathTemplate {
        match PathTemplate::parse(text) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parse_valid() {
        // (template, canonical text, [(field, pattern)], verb)
        let cases: &[ParseCase] = &[
            (
                CANCEL,
                CANCEL,
                &[("name", "projects/*/operations/**")],
                Some("cancel"),
            ),
            ("/v1/{name}", "/v1/{name}", &[("name", "*")], None),
            ("/v1/{name=*}", "/v1/{name}", &[("name", "*")], None),
            (
                "/v1/{name=projects/*}/operations",
                "/v1/{name=projects/*}/operations",
                &[("name", "projects/*")],
                None,
            ),
            (
                "/v1/{a.b_c=x/*}/y/{d}:do",
                "/v1/{a.b_c=x/*}/y/{d}:do",
                &[("a.b_c", "x/*"), ("d", "*")],
                Some("do"),
            ),
            ("/v1/*/x", "/v1/*/x", &[], None),
            ("/v1/**", "/v1/**", &[], None),
            ("/v1/{name=**}", "/v1/{name=**}", &[("name", "**")], None),
            (
                "/v1/operations:batchGet",
                "/v1/operations:batchGet",
                &[],
                Some("batchGet"),
            ),
            ("/v1/{x=lit}", "/v1/{x=lit}", &[("x", "lit")], None),
            (
                "/v1/{_x9=**}:a-b",
                "/v1/{_x9=**}:a-b",
                &[("_x9", "**")],
                Some("a-b"),
            ),
        ];
        for &(text, canonical, vars, verb) in cases {
            let parsed = t(text);
            assert_eq!(parsed.to_string(), canonical, "{text}");
            let got: Vec<(&str, &str)> = parsed
                .variables()
                .iter()
                .map(|v| (v.field_path(), v.pattern()))
                .collect();
            assert_eq!(got, vars, "{text}");
            assert_eq!(parsed.verb(), verb, "{text}");
            // The canonical text parses to the same template.
            assert_eq!(t(canonical), parsed, "{text}");
        }
    }

    #[test]
    fn parse_invalid() {
        use TemplateErrorKind as K;
        let cases: &[(&str, usize, TemplateErrorKind)] = &[
            ("v1/x", 0, K::MissingLeadingSlash),
            ("", 0, K::MissingLeadingSlash),
            ("/v1/{name", 4, K::UnclosedBrace),
            ("/v1/{name=projects/*", 4, K::UnclosedBrace),
            ("/v1/name}", 8, K::UnopenedBrace),
            ("/v1/}", 4, K::UnopenedBrace),
            ("/v1/**/x", 4, K::DeepWildcardNotLast),
            ("/v1/{name=**}/x", 10, K::DeepWildcardNotLast),
            ("/v1/{a=**}/{b}", 7, K::DeepWildcardNotLast),
            ("/v1/{a=x/**/y}", 9, K::DeepWildcardNotLast),
            ("/v1/{a={b}}", 7, K::NestedVariable),
            ("/v1/{a=x/{b}}", 9, K::NestedVariable),
            ("/v1//x", 4, K::EmptySegment),
            ("/v1/", 4, K::EmptySegment),
            ("/", 1, K::EmptySegment),
            ("/v1/{a=x//y}", 9, K::EmptySegment),
            ("/v1/{a=}", 7, K::EmptySegment),
            ("/v1/:verb", 4, K::EmptySegment),
            ("/v1/{a}/{a}", 9, K::DuplicateVariable("a".into())),
            ("/v1/{a}/{a.b}", 9, K::DuplicateVariable("a.b".into())),
            ("/v1/{}", 5, K::EmptyFieldPath),
            ("/v1/{=x}", 5, K::EmptyFieldPath),
            ("/v1/{1a}", 5, K::BadIdentifier),
            ("/v1/{a..b}", 7, K::BadIdentifier),
            ("/v1/{a-b}", 6, K::BadIdentifier),
            ("/v1/{a.}", 7, K::BadIdentifier),
            ("/v1/x:", 5, K::EmptyVerb),
            ("/v1/x:/y", 6, K::UnexpectedChar('/')),
            ("/v1/a*", 5, K::PartialWildcard),
            ("/v1/*a", 4, K::PartialWildcard),
            ("/v1/***", 4, K::PartialWildcard),
            ("/v1/./x", 4, K::DotSegment),
            ("/v1/{a=..}", 7, K::DotSegment),
            ("/v1/{a=x:y}", 8, K::UnexpectedChar(':')),
            ("/v1/a b", 5, K::UnexpectedChar(' ')),
        ];
        for (text, position, kind) in cases {
            match PathTemplate::parse(text) {
                Ok(p) => panic!("{text:?} parsed as {p}"),
                Err(e) => {
                    assert_eq!((e.position(), e.kind()), (*position, kind), "{text:?}: {e}");
                    assert!(e.to_string().contains(&format!("byte {position}")));
                }
            }
        }
    }

    #[test]
    fn expand_cases() {
        use ExpandErrorKind as K;
        const LIST: &str = "/v1/{name=projects/*}/operations";
        const SINGLE: &str = "/v1/{id}/x";
        let cases: &[(&str, &str, Result<&str, K>)] = &[
            (
                CANCEL,
                "projects/p/operations/x",
                Ok("/v1/projects/p/operations/x:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/a/b",
                Ok("/v1/projects/p/operations/a/b:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/x:y",
                Ok("/v1/projects/p/operations/x%3Ay:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/a b",
                Ok("/v1/projects/p/operations/a%20b:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/100%",
                Ok("/v1/projects/p/operations/100%25:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/a?b#c",
                Ok("/v1/projects/p/operations/a%3Fb%23c:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/é",
                Ok("/v1/projects/p/operations/%C3%A9:cancel"),
            ),
            (
                CANCEL,
                "projects/p/operations/a%2Fb",
                Ok("/v1/projects/p/operations/a%252Fb:cancel"),
            ),
            (
                CANCEL,
                "projects/my project/operations/x",
                Ok("/v1/projects/my%20project/operations/x:cancel"),
            ),
            (
                CANCEL,
                "operations/x",
                Err(K::LiteralMismatch {
                    index: 0,
                    expected: "projects".into(),
                }),
            ),
            (CANCEL, "projects/p/operations", Err(K::TooFewSegments)),
            (CANCEL, "projects/p", Err(K::TooFewSegments)),
            (
                CANCEL,
                "projects//operations/x",
                Err(K::EmptySegment { index: 1 }),
            ),
            (CANCEL, "", Err(K::Empty)),
            (
                CANCEL,
                "projects/p/operations/x/../y",
                Err(K::DotSegment { index: 4 }),
            ),
            (
                CANCEL,
                "projects/./operations/x",
                Err(K::DotSegment { index: 1 }),
            ),
            (
                CANCEL,
                "projects/p/operations/.",
                Err(K::DotSegment { index: 3 }),
            ),
            (
                CANCEL,
                "projects/p/operations/x/",
                Err(K::EmptySegment { index: 4 }),
            ),
            (
                CANCEL,
                "/projects/p/operations/x",
                Err(K::EmptySegment { index: 0 }),
            ),
            (
                CANCEL,
                "projects/p/jobs/x",
                Err(K::LiteralMismatch {
                    index: 2,
                    expected: "operations".into(),
                }),
            ),
            (LIST, "projects/p", Ok("/v1/projects/p/operations")),
            (LIST, "projects/a/b", Err(K::TooManySegments)),
            (LIST, "projects/..", Err(K::DotSegment { index: 1 })),
            (SINGLE, "a/b", Ok("/v1/a%2Fb/x")),
            (SINGLE, "a:b c", Ok("/v1/a%3Ab%20c/x")),
            (SINGLE, "~-._09AZaz", Ok("/v1/~-._09AZaz/x")),
            (SINGLE, "?#%", Ok("/v1/%3F%23%25/x")),
            (SINGLE, "..", Err(K::DotSegment { index: 0 })),
            (SINGLE, ".", Err(K::DotSegment { index: 0 })),
            (SINGLE, "", Err(K::Empty)),
            ("/v1/{x=lit}", "lit", Ok("/v1/lit")),
            (
                "/v1/{x=lit}",
                "other",
                Err(K::LiteralMismatch {
                    index: 0,
                    expected: "lit".into(),
                }),
            ),
        ];
        for (template, value, expected) in cases {
            let got = t(template).expand(|_| Some(*value));
            match (got, expected) {
                (Ok(path), Ok(want)) => assert_eq!(path, *want, "{template} {value:?}"),
                (Err(e), Err(kind)) => {
                    assert_eq!(e.kind(), kind, "{template} {value:?}");
                    assert_eq!(e.value(), Some(*value));
                    let text = e.to_string();
                    assert!(text.contains(&format!("`{value}`")), "{text}");
                    assert!(text.contains(e.pattern()), "{text}");
                }
                (got, want) => panic!("{template} {value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn expand_error_messages() {
        let e = t(CANCEL).expand(|_| Some("operations/x")).unwrap_err();
        assert_eq!(e.field(), "name");
        assert_eq!(
            e.to_string(),
            "field `name`: `operations/x` is not of the form \
             projects/{project}/operations/{operation} (pattern `projects/*/operations/**`): \
             segment 0 should be `projects`"
        );
        let e = t(CANCEL).expand(|_| None::<String>).unwrap_err();
        assert_eq!(e.kind(), &ExpandErrorKind::Missing);
        assert_eq!(e.value(), None);
        assert!(e.to_string().contains("has no value"));
        assert_eq!(t("/v1/{id}").variables()[0].expected_form(), "{id}");
        let e = t("/v1/*/{x}").expand(|_| Some("a")).unwrap_err();
        assert_eq!(e.kind(), &ExpandErrorKind::AnonymousWildcard);
        // Several variables: each looked up by its own field path.
        let two = t("/v1/{a.b}/x/{c=y/**}:go");
        let path = two.expand(|f| match f {
            "a.b" => Some("1 2"),
            "c" => Some("y/z/w"),
            _ => None,
        });
        assert_eq!(path.unwrap(), "/v1/1%202/x/y/z/w:go");
    }

    #[test]
    fn match_cases() {
        const GET: &str = "/v1/{name=projects/*/operations/**}";
        const SINGLE: &str = "/v1/{id}/x";
        let cases: &[MatchCase] = &[
            (
                CANCEL,
                "/v1/projects/p/operations/a/b:cancel",
                Some(&[("name", "projects/p/operations/a/b")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/a%2Fb:cancel",
                Some(&[("name", "projects/p/operations/a%2Fb")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/a%2fb:cancel",
                Some(&[("name", "projects/p/operations/a%2fb")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/a%252Fb:cancel",
                Some(&[("name", "projects/p/operations/a%2Fb")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/x%3Ay:cancel",
                Some(&[("name", "projects/p/operations/x:y")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/x:y:cancel",
                Some(&[("name", "projects/p/operations/x:y")]),
            ),
            (
                CANCEL,
                "/v1/projects/p/operations/%C3%A9%20%3F:cancel",
                Some(&[("name", "projects/p/operations/é ?")]),
            ),
            (CANCEL, "/v1/projects/p/operations/x", None),
            (CANCEL, "/v1/projects/p/operations/x:wait", None),
            (CANCEL, "/v1/projects/p/operations:cancel", None),
            (CANCEL, "/v1/projects//operations/x:cancel", None),
            (CANCEL, "/v1/projects/p/operations/x/:cancel", None),
            (CANCEL, "/v1/projects/p/operations/%ZZ:cancel", None),
            (CANCEL, "/v1/projects/p/operations/%4:cancel", None),
            (CANCEL, "/v1/projects/p/operations/%FF:cancel", None),
            (CANCEL, "/v1/projects/p/operations/..:cancel", None),
            (CANCEL, "/v1/projects/p/operations/%2E:cancel", None),
            (CANCEL, "v1/projects/p/operations/x:cancel", None),
            (CANCEL, "/v1/projects/p/operations/x:cancel/y", None),
            (
                CANCEL,
                "/v1/projects/p/operations/x:%63ancel",
                Some(&[("name", "projects/p/operations/x")]),
            ),
            (
                GET,
                "/v1/projects/p/operations/x:cancel",
                Some(&[("name", "projects/p/operations/x:cancel")]),
            ),
            (
                GET,
                "/v1/projects/p/operations/x",
                Some(&[("name", "projects/p/operations/x")]),
            ),
            (GET, "/v2/projects/p/operations/x", None),
            (GET, "/v1/jobs/p/operations/x", None),
            (SINGLE, "/v1/a%2Fb/x", Some(&[("id", "a/b")])),
            (SINGLE, "/v1/a%2fb/x", Some(&[("id", "a/b")])),
            (SINGLE, "/v1/a%20b/x", Some(&[("id", "a b")])),
            (SINGLE, "/v1/a%252F/x", Some(&[("id", "a%2F")])),
            (SINGLE, "/v1/a/x/x", None),
            (SINGLE, "/v1//x", None),
            (SINGLE, "/v1/a/y", None),
            ("/v1/{id}", "/v1/", None),
            ("/v1/{id}", "/%761/abc", Some(&[("id", "abc")])),
            ("/v1/*/x", "/v1/anything/x", Some(&[])),
            ("/v1/**", "/v1/a/b/c", Some(&[])),
            (
                "/v1/{a}/{b=x/*}",
                "/v1/1/x/2",
                Some(&[("a", "1"), ("b", "x/2")]),
            ),
        ];
        for (template, path, expected) in cases {
            let got = t(template).match_path(path);
            let want = expected.map(|vars| {
                vars.iter()
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{template} {path}");
            assert_eq!(t(template).matches(path), want.is_some());
        }
    }

    /// (template, path, options, the variables if it matches)
    type OptionCase = (
        &'static str,
        &'static str,
        RouterOptions,
        Option<&'static [(&'static str, &'static str)]>,
    );

    #[test]
    fn match_cases_with_options() {
        use crate::transcode::PathDecoding;
        let d = RouterOptions::default;
        let lad = || d().with_literals_after_deep_wildcard(true);
        let cases: &[OptionCase] = &[
            // Trailing slashes.
            ("/v1/{id}", "/v1/a/", d(), None),
            (
                "/v1/{id}",
                "/v1/a/",
                d().with_trailing_slash(true),
                Some(&[("id", "a")]),
            ),
            (
                "/v1/{id}",
                "/v1/a///",
                d().with_trailing_slash(true),
                Some(&[("id", "a")]),
            ),
            ("/v1/{id}", "/v1//", d().with_trailing_slash(true), None),
            // `**` matching zero segments, only at the end of a template.
            ("/v1/{n=**}", "/v1", d(), None),
            (
                "/v1/{n=**}",
                "/v1",
                d().with_deep_wildcard_matches_empty(true),
                Some(&[("n", "")]),
            ),
            (
                "/v1/{n=a/**}",
                "/v1/a",
                d().with_deep_wildcard_matches_empty(true),
                Some(&[("n", "a")]),
            ),
            (
                "/v1/{n=**}:go",
                "/v1:go",
                d().with_deep_wildcard_matches_empty(true),
                Some(&[("n", "")]),
            ),
            (
                "/v1/**/x",
                "/v1/x",
                lad().with_deep_wildcard_matches_empty(true),
                None,
            ),
            // Literals after `**`.
            (
                "/v1/{n=**}/x/y",
                "/v1/a/b/x/y",
                lad(),
                Some(&[("n", "a/b")]),
            ),
            ("/v1/{n=**}/x/y", "/v1/x/y", lad(), None),
            (
                "/v1/{n=**}/x/y",
                "/v1/a/x/y/x/y",
                lad(),
                Some(&[("n", "a/x/y")]),
            ),
            (
                "/v1/{n=a/**/b}/c",
                "/v1/a/1/2/b/c",
                lad(),
                Some(&[("n", "a/1/2/b")]),
            ),
            ("/v1/{n=a/**/b}/c", "/v1/a/1/2/x/c", lad(), None),
            ("/v1/{n=a/**/b}/c", "/v1/a//b/c", lad(), None),
            (
                "/v1/{n=a/**/b}/c",
                "/v1/a//b/c",
                lad().with_lenient_segments(true),
                Some(&[("n", "a//b")]),
            ),
            ("/", "/", lad(), Some(&[])),
            ("/", "/a", lad(), None),
            // Empty and dot segments.
            (
                "/v1/{id}/x",
                "/v1//x",
                d().with_lenient_segments(true),
                Some(&[("id", "")]),
            ),
            ("/v1/{id}", "/v1/%2E%2E", d(), None),
            (
                "/v1/{id}",
                "/v1/%2E%2E",
                d().with_lenient_segments(true),
                Some(&[("id", "..")]),
            ),
            ("/v1/{n=**}", "/v1/a/../b", d(), None),
            (
                "/v1/{n=**}",
                "/v1/a/../b",
                d().with_lenient_segments(true),
                Some(&[("n", "a/../b")]),
            ),
            // Decoding modes: single segments always fully decoded.
            (
                "/v1/{id}",
                "/v1/a%2Fb%3A",
                RouterOptions::envoy(),
                Some(&[("id", "a/b:")]),
            ),
            (
                "/v1/{n=**}",
                "/v1/a%2Fb%3A%20",
                d(),
                Some(&[("n", "a%2Fb: ")]),
            ),
            (
                "/v1/{n=**}",
                "/v1/a%2Fb%3A%20",
                RouterOptions::envoy(),
                Some(&[("n", "a%2Fb%3A ")]),
            ),
            (
                "/v1/{n=**}",
                "/v1/a%2Fb%3A%20",
                d().with_path_decoding(PathDecoding::All),
                Some(&[("n", "a/b: ")]),
            ),
            ("/v1/{n=**}", "/v1/a%ZZ", RouterOptions::envoy(), None),
            // Verbs: alone, a template only knows its own.
            ("/v1/{n=**}", "/v1/a:go", d(), Some(&[("n", "a:go")])),
            (
                "/v1/{n=**}",
                "/v1/a:go",
                d().with_verb_matching(VerbMatching::Any),
                None,
            ),
            (
                "/v1/{n=**}:go",
                "/v1/a:go",
                d().with_verb_matching(VerbMatching::Any),
                Some(&[("n", "a")]),
            ),
            (
                "/v1/{n=**}",
                "/v1/a:go/b",
                d().with_verb_matching(VerbMatching::Any),
                Some(&[("n", "a:go/b")]),
            ),
            (
                "/v1/{n=**}",
                "/v1/a:",
                d().with_verb_matching(VerbMatching::Any),
                Some(&[("n", "a:")]),
            ),
        ];
        for (template, path, options, expected) in cases {
            let parsed = match PathTemplate::parse_with(template, options) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            };
            let want = expected.map(|vars| {
                vars.iter()
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                parsed.match_path_with(path, options),
                want,
                "{template} {path} {options:?}"
            );
        }
    }

    #[test]
    fn expand_with_literals_after_deep_wildcard() {
        use ExpandErrorKind as K;
        let lad = RouterOptions::default().with_literals_after_deep_wildcard(true);
        let parse = |text: &str| match PathTemplate::parse_with(text, &lad) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let cases: &[(&str, &str, Result<&str, K>)] = &[
            ("/v1/{n=a/**/b/c}:go", "a/x/y/b/c", Ok("/v1/a/x/y/b/c:go")),
            ("/v1/{n=a/**/b/c}:go", "a/x/b/c", Ok("/v1/a/x/b/c:go")),
            ("/v1/{n=a/**/b/c}:go", "a/b/c", Err(K::TooFewSegments)),
            (
                "/v1/{n=a/**/b/c}:go",
                "a/x/y/b/d",
                Err(K::LiteralMismatch {
                    index: 4,
                    expected: "c".into(),
                }),
            ),
            (
                "/v1/{n=a/**/b/c}:go",
                "a//b/c",
                Err(K::EmptySegment { index: 1 }),
            ),
            ("/v1/{n=**}/items", "x y/z", Ok("/v1/x%20y/z/items")),
            ("/", "", Ok("/")),
        ];
        for (template, value, expected) in cases {
            let t = parse(template);
            match (t.expand(|_| Some(*value)), expected) {
                (Ok(path), Ok(want)) => {
                    assert_eq!(path, *want, "{template} {value}");
                    if !t.variables().is_empty() {
                        let back = t.match_path_with(&path, &lad);
                        assert_eq!(back, Some(vec![("n".to_string(), value.to_string())]));
                    }
                }
                (Err(e), Err(kind)) => assert_eq!(e.kind(), kind, "{template} {value}"),
                (got, want) => panic!("{template} {value}: got {got:?}, want {want:?}"),
            }
        }
        // Only literals may follow `**`, even with the option.
        for text in [
            "/v1/**/*",
            "/v1/**/{x}",
            "/v1/{x=**}/{y=**}",
            "/v1/{x=**/*}",
        ] {
            let err = PathTemplate::parse_with(text, &lad).unwrap_err();
            assert_eq!(
                err.kind(),
                &TemplateErrorKind::DeepWildcardNotLast,
                "{text}"
            );
            assert_eq!(
                err.position(),
                4 + text[4..].find('*').unwrap_or(0),
                "{text}"
            );
        }
    }

    fn segment() -> impl Strategy<Value = String> {
        prop::string::string_regex("([a-zA-Z0-9 %?#:é~._+=&@\\-]|%2F|%2f|%25|😀|\u{7f}){1,8}")
            .expect("valid regex")
            .prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn expand_then_match_multi_segment(
            project in segment(),
            ids in prop::collection::vec(segment(), 1..4),
        ) {
            let template = t(CANCEL);
            let name = format!("projects/{project}/operations/{}", ids.join("/"));
            let path = template.expand(|_| Some(name.as_str())).unwrap();
            let vars = template.match_path(&path);
            prop_assert_eq!(vars, Some(vec![("name".to_string(), name)]));
        }

        #[test]
        fn expand_then_match_single_segment(
            id in any::<String>().prop_filter("valid", |s| !s.is_empty() && s != "." && s != ".."),
            other in segment(),
        ) {
            let template = t("/v1/{parent=projects/*}/things/{id}:run");
            let parent = format!("projects/{other}");
            let path = template
                .expand(|f| if f == "id" { Some(id.as_str()) } else { Some(parent.as_str()) })
                .unwrap();
            let vars = template.match_path(&path);
            prop_assert_eq!(
                vars,
                Some(vec![("parent".to_string(), parent), ("id".to_string(), id)])
            );
        }

        #[test]
        fn matching_arbitrary_paths_never_panics(path in any::<String>()) {
            let _ = t(CANCEL).match_path(&path);
            let _ = t("/v1/{id}/x").match_path(&path);
        }

        /// With literals after `**` (inside and after the variable), expanding then matching
        /// still gives the value back, for every decoding mode that keeps `%2F`.
        #[test]
        fn expand_then_match_literals_after_deep_wildcard(
            shelf in segment(),
            ids in prop::collection::vec(segment(), 1..4),
            envoy in any::<bool>(),
        ) {
            let options = if envoy {
                // Envoy's default keeps reserved characters encoded, so compare in that form.
                RouterOptions::envoy()
            } else {
                RouterOptions::default().with_literals_after_deep_wildcard(true)
            };
            let template =
                PathTemplate::parse_with("/v1/{name=shelves/*/**/books}/pages:read", &options)
                    .unwrap();
            let name = format!("shelves/{shelf}/{}/books", ids.join("/"));
            let path = template.expand(|_| Some(name.as_str())).unwrap();
            let vars = template.match_path_with(&path, &options).unwrap();
            let want = if envoy {
                // What the client sent, with only unreserved escapes decoded.
                let encoded = &path["/v1/".len()..path.len() - "/pages:read".len()];
                decode(encoded, |b| options.path_decoding.keeps(b)).unwrap()
            } else {
                name
            };
            prop_assert_eq!(vars, vec![("name".to_string(), want)]);
        }

        #[test]
        fn parsing_arbitrary_templates_never_panics(text in "[/{}=*.:a-c]{0,16}") {
            if let Ok(parsed) = PathTemplate::parse(&text) {
                // Whatever parses, prints back to something that parses the same.
                prop_assert_eq!(t(&parsed.to_string()), parsed);
            }
        }
    }
}
