//! The cases of Envoy's gRPC-JSON transcoder (grpc-httpjson-transcoding,
//! `test/http_template_test.cc` and `test/path_matcher_test.cc`), restated as eeops tables.
//!
//! Every row is checked three ways:
//! 1. with [`RouterOptions::envoy`] (plus the builder settings the Envoy test made): Envoy's
//!    answer;
//! 2. with [`RouterOptions::default`] (`google/api/http.proto`'s text) plus the options the
//!    row names: Envoy's answer again, so the row says which options make eeops match;
//! 3. when the row names options, with the default alone: NOT Envoy's answer, so the named
//!    options are the ones that matter and the default stays http.proto's.
//!
//! Not ported: Envoy's duplicate-registration cases (`ReplacevoidForPath`,
//! `LookupSilentlyFailsOnDuplicate`, `RegisterFailsOnDuplicateIfOptIn`). Envoy routes a path
//! registered twice nowhere; eeops' binding table is generated and checked at build time, and
//! its router lets the earlier binding win, by design and with no option.

use eeops::transcode::{
    HttpBinding, PathDecoding, PathTemplate, Router, RouterOptions, VerbMatching, decode_request,
};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

/// One option that departs from eeops' default (or an Envoy builder setting).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Opt {
    TrailingSlash,
    DeepZero,
    LiteralsAfterDeep,
    Lenient,
    VerbsRegistered,
    VerbsAny,
    KeepReserved,
    DecodeAll,
    DecodeAllButSlash,
    PlusKept,
    PlusAsSpace,
}

fn apply(mut o: RouterOptions, opts: &[Opt]) -> RouterOptions {
    for opt in opts {
        o = match opt {
            Opt::TrailingSlash => o.with_trailing_slash(true),
            Opt::DeepZero => o.with_deep_wildcard_matches_empty(true),
            Opt::LiteralsAfterDeep => o.with_literals_after_deep_wildcard(true),
            Opt::Lenient => o.with_lenient_segments(true),
            Opt::VerbsRegistered => o.with_verb_matching(VerbMatching::Registered),
            Opt::VerbsAny => o.with_verb_matching(VerbMatching::Any),
            Opt::KeepReserved => o.with_path_decoding(PathDecoding::AllButReserved),
            Opt::DecodeAll => o.with_path_decoding(PathDecoding::All),
            Opt::DecodeAllButSlash => o.with_path_decoding(PathDecoding::AllButSlash),
            Opt::PlusKept => o.with_query_plus_as_space(false),
            Opt::PlusAsSpace => o.with_query_plus_as_space(true),
        };
    }
    o
}

/// The three option sets a row is checked with: Envoy's, the default with the row's needs,
/// and (when the row has needs) the default without them.
fn option_sets(
    settings: &[Opt],
    group_needs: &[Opt],
    row_needs: &[Opt],
) -> (RouterOptions, RouterOptions, Option<RouterOptions>) {
    let envoy = apply(RouterOptions::envoy(), settings);
    let base = apply(apply(RouterOptions::default(), group_needs), settings);
    let matched = apply(base.clone(), row_needs);
    let plain = (!row_needs.is_empty()).then_some(base);
    (envoy, matched, plain)
}

// ---------------------------------------------------------------------------------------
// http_template_test.cc

/// (template, segments, verb, [(field path, start, end, has `**`)] as Envoy numbers them (a
/// negative end counts from the end, -1 being the end), options eeops needs beyond its
/// default)
type ParseCase = (
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static [(&'static str, i32, i32, bool)],
    &'static [Opt],
);

const LAD: &[Opt] = &[Opt::LiteralsAfterDeep];

static PARSE_CASES: &[ParseCase] = &[
    // ParseTest1 .. ParseTest16
    (
        "/shelves/{shelf}/books/{book}",
        &["shelves", "*", "books", "*"],
        "",
        &[("shelf", 1, 2, false), ("book", 3, 4, false)],
        &[],
    ),
    ("/shelves/**", &["shelves", "**"], "", &[], &[]),
    ("/**", &["**"], "", &[], &[]),
    ("/*", &["*"], "", &[], &[]),
    ("/a:foo", &["a"], "foo", &[], &[]),
    ("/a/b/c:foo", &["a", "b", "c"], "foo", &[], &[]),
    ("/*/**", &["*", "**"], "", &[], &[]),
    ("/*/a/**", &["*", "a", "**"], "", &[], &[]),
    (
        "/a/{a.b.c}",
        &["a", "*"],
        "",
        &[("a.b.c", 1, 2, false)],
        &[],
    ),
    (
        "/a/{a.b.c=*}",
        &["a", "*"],
        "",
        &[("a.b.c", 1, 2, false)],
        &[],
    ),
    ("/a/{b=*}", &["a", "*"], "", &[("b", 1, 2, false)], &[]),
    ("/a/{b=**}", &["a", "**"], "", &[("b", 1, -1, true)], &[]),
    (
        "/a/{b=c/*}",
        &["a", "c", "*"],
        "",
        &[("b", 1, 3, false)],
        &[],
    ),
    (
        "/a/{b=c/*/d}",
        &["a", "c", "*", "d"],
        "",
        &[("b", 1, 4, false)],
        &[],
    ),
    (
        "/a/{b=c/**}",
        &["a", "c", "**"],
        "",
        &[("b", 1, -1, true)],
        &[],
    ),
    (
        "/a/{b=c/**}/d/e",
        &["a", "c", "**", "d", "e"],
        "",
        &[("b", 1, -3, true)],
        LAD,
    ),
    (
        "/a/{b=c/**/d}/e",
        &["a", "c", "**", "d", "e"],
        "",
        &[("b", 1, -2, true)],
        LAD,
    ),
    (
        "/a/{b=c/**/d}/e:verb",
        &["a", "c", "**", "d", "e"],
        "verb",
        &[("b", 1, -2, true)],
        LAD,
    ),
    // CustomVerbTests
    ("/*:verb", &["*"], "verb", &[], &[]),
    ("/**:verb", &["**"], "verb", &[], &[]),
    ("/{a}:verb", &["*"], "verb", &[("a", 0, 1, false)], &[]),
    ("/a/b/*:verb", &["a", "b", "*"], "verb", &[], &[]),
    ("/a/b/**:verb", &["a", "b", "**"], "verb", &[], &[]),
    (
        "/a/b/{a}:verb",
        &["a", "b", "*"],
        "verb",
        &[("a", 2, 3, false)],
        &[],
    ),
    // MoreVariableTests
    ("/{x}", &["*"], "", &[("x", 0, 1, false)], &[]),
    ("/{x.y.z}", &["*"], "", &[("x.y.z", 0, 1, false)], &[]),
    ("/{x=*}", &["*"], "", &[("x", 0, 1, false)], &[]),
    ("/{x=a/*}", &["a", "*"], "", &[("x", 0, 2, false)], &[]),
    (
        "/{x.y.z=*/a/b}/c",
        &["*", "a", "b", "c"],
        "",
        &[("x.y.z", 0, 3, false)],
        &[],
    ),
    ("/{x=**}", &["**"], "", &[("x", 0, -1, true)], &[]),
    ("/{x.y.z=**}", &["**"], "", &[("x.y.z", 0, -1, true)], &[]),
    (
        "/{x.y.z=a/**/b}",
        &["a", "**", "b"],
        "",
        &[("x.y.z", 0, -1, true)],
        LAD,
    ),
    (
        "/{x.y.z=a/**/b}/c/d",
        &["a", "**", "b", "c", "d"],
        "",
        &[("x.y.z", 0, -3, true)],
        LAD,
    ),
    // VariableAndCustomVerbTests
    ("/{x}:verb", &["*"], "verb", &[("x", 0, 1, false)], &[]),
    (
        "/{x.y.z}:verb",
        &["*"],
        "verb",
        &[("x.y.z", 0, 1, false)],
        &[],
    ),
    (
        "/{x.y.z=*/*}:verb",
        &["*", "*"],
        "verb",
        &[("x.y.z", 0, 2, false)],
        &[],
    ),
    (
        "/{x=**}:myverb",
        &["**"],
        "myverb",
        &[("x", 0, -1, true)],
        &[],
    ),
    (
        "/{x.y.z=**}:myverb",
        &["**"],
        "myverb",
        &[("x.y.z", 0, -1, true)],
        &[],
    ),
    (
        "/{x.y.z=a/**/b}:custom",
        &["a", "**", "b"],
        "custom",
        &[("x.y.z", 0, -1, true)],
        LAD,
    ),
    (
        "/{x.y.z=a/**/b}/c/d:custom",
        &["a", "**", "b", "c", "d"],
        "custom",
        &[("x.y.z", 0, -3, true)],
        LAD,
    ),
    // RootPATH: http.proto's grammar has no root template; the same option allows it.
    ("/", &[], "", &[], LAD),
    // ParseVerbTest2 .. 4
    ("/a/*:verb", &["a", "*"], "verb", &[], &[]),
    ("/a/**:verb", &["a", "**"], "verb", &[], &[]),
    (
        "/a/{b=*}/**:verb",
        &["a", "*", "**"],
        "verb",
        &[("b", 1, 2, false)],
        &[],
    ),
];

/// ErrorTests, ParseNonVerbTest and path_matcher_test's InvalidTemplates: refused with every
/// option.
static PARSE_ERRORS: &[&str] = &[
    "",
    "//",
    "/{}",
    "/a/",
    "/a//b",
    ":verb",
    "/:verb",
    "/a/:verb",
    ":",
    "/:",
    "/*:",
    "/**:",
    "/{var}:",
    "/a/b/:",
    "/a/b/*:",
    "/a/b/**:",
    "/a/b/{var}:",
    "/a/{",
    "/a/{var",
    "/a/{var.",
    "/a/{x=var:verb}",
    "a",
    "{x}",
    "{x=/a}",
    "{x=/a/b}",
    "a/b",
    "a/b/{x}",
    "a/{x}/b",
    "a/{x}/b:verb",
    "/a/{var=/b}",
    "/{var=a/{nested=b}}",
    "/a{x}",
    "/{x}a",
    "/a{x}b",
    "/{x}a{y}",
    "/a/b{x}",
    "/a/{x}b",
    "/a/b{x}c",
    "/a/{x}b{y}",
    "/a/b{x}/s",
    "/a/{x}b/s",
    "/a/b{x}c/s",
    "/a/{x}b{y}/s",
    "/a/:",
    "/a/*:",
    "/a/**:",
    "/a/{b=*}/**:",
    // InvalidTemplates
    "/a{x=b/**}/{y=*}",
    "/a{x=b/**}/bb/{y=*}",
    "/a{x=b/**}/{y=**}",
    "/a{x=b/**}/bb/{y=**}",
    "/a/**/*",
    "/a/**/foo/*",
    "/a/**/**",
    "/a/**/foo/**",
    // Variables after `**` are wildcards too.
    "/a/**/{x}",
    "/a/{x=**}/{y=**}",
];

#[test]
fn http_template_parse_cases() {
    for &(text, segments, verb, vars, needs) in PARSE_CASES {
        for (label, options) in [
            ("envoy", RouterOptions::envoy()),
            ("default + needs", apply(RouterOptions::default(), needs)),
        ] {
            let t = match PathTemplate::parse_with(text, &options) {
                Ok(t) => t,
                Err(e) => panic!("{text} ({label}): {e}"),
            };
            let got: Vec<String> = t.segments().iter().map(ToString::to_string).collect();
            assert_eq!(got, segments, "{text} ({label})");
            assert_eq!(t.verb().unwrap_or(""), verb, "{text} ({label})");
            assert_eq!(t.variables().len(), vars.len(), "{text} ({label})");
            for (var, &(field, start, end, deep)) in t.variables().iter().zip(vars) {
                let end = if end < 0 {
                    segments.len() as i32 + end + 1
                } else {
                    end
                };
                let pattern = segments[start as usize..end as usize].join("/");
                assert_eq!(var.field_path(), field, "{text} ({label})");
                assert_eq!(var.pattern(), pattern, "{text} ({label})");
                assert_eq!(
                    var.is_multi_segment(),
                    end - start > 1 || deep,
                    "{text} ({label})"
                );
            }
            // What parses prints back to itself.
            let again = PathTemplate::parse_with(&t.to_string(), &options);
            assert_eq!(again.as_ref(), Ok(&t), "{text} ({label})");
        }
        if !needs.is_empty() {
            assert!(
                PathTemplate::parse(text).is_err(),
                "{text} parses without {needs:?}"
            );
        }
    }
}

#[test]
fn http_template_parse_errors() {
    for text in PARSE_ERRORS {
        for options in [
            RouterOptions::default(),
            RouterOptions::envoy(),
            RouterOptions::default().with_literals_after_deep_wildcard(true),
        ] {
            if let Ok(t) = PathTemplate::parse_with(text, &options) {
                panic!("{text:?} parsed as {t} with {options:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// path_matcher_test.cc

/// The variables of a match: (field path, value).
type Vars = &'static [(&'static str, &'static str)];

/// (HTTP method, path, the template it routes to and its variables (`None`: no route),
/// options eeops needs beyond its default for Envoy's answer)
type Row = (
    &'static str,
    &'static str,
    Option<(&'static str, Vars)>,
    &'static [Opt],
);

struct Group {
    name: &'static str,
    /// Builder settings the Envoy test made, applied to both option sets.
    settings: &'static [Opt],
    /// Options every row of the group needs (e.g. to parse its templates).
    needs: &'static [Opt],
    /// (HTTP method, template); the template doubles as the binding's method name.
    bindings: &'static [(&'static str, &'static str)],
    rows: &'static [Row],
}

const fn get(template: &'static str) -> (&'static str, &'static str) {
    ("GET", template)
}

const NONE: Option<(&str, Vars)> = None;

static GROUPS: &[Group] = &[
    Group {
        name: "WildCardMatchesRoot",
        settings: &[],
        needs: &[],
        bindings: &[get("/**")],
        rows: &[
            ("GET", "/", Some(("/**", &[])), &[Opt::DeepZero]),
            ("GET", "/a", Some(("/**", &[])), &[]),
            ("GET", "/a/", Some(("/**", &[])), &[Opt::TrailingSlash]),
        ],
    },
    Group {
        name: "WildCardMatches",
        settings: &[],
        needs: LAD,
        bindings: &[
            get("/a/**"),
            get("/b/*"),
            get("/c/*/d/**"),
            get("/c/*/d/e"),
            get("/c/f/d/e"),
            get("/"),
        ],
        rows: &[
            ("GET", "/a/b", Some(("/a/**", &[])), &[]),
            ("GET", "/a/b/c", Some(("/a/**", &[])), &[]),
            ("GET", "/b/c", Some(("/b/*", &[])), &[]),
            ("GET", "b/c/d", NONE, &[]),
            ("GET", "/c/u/d/v", Some(("/c/*/d/**", &[])), &[]),
            ("GET", "/c/v/d/w/x", Some(("/c/*/d/**", &[])), &[]),
            ("GET", "/c/x/y/d/z", NONE, &[]),
            ("GET", "/c//v/d/w/x", NONE, &[]),
            ("GET", "/c/x/d/e", Some(("/c/*/d/e", &[])), &[]),
            ("GET", "/c/f/d/e", Some(("/c/f/d/e", &[])), &[]),
            ("GET", "/", Some(("/", &[])), &[]),
        ],
    },
    Group {
        name: "VariableBindings",
        settings: &[],
        needs: LAD,
        bindings: &[
            get("/a/{x}/c/d/e"),
            get("/{x=a/*}/b/{y=*}/c"),
            get("/a/{x=b/*}/{y=d/**}"),
            get("/alpha/{x=*}/beta/{y=**}/gamma"),
            get("/{x=*}/a"),
            get("/{x=**}/a/b"),
            get("/a/b/{x=*}"),
            get("/a/b/c/{x=**}"),
            get("/{x=*}/d/e/f/{y=**}"),
        ],
        rows: &[
            (
                "GET",
                "/a/book/c/d/e",
                Some(("/a/{x}/c/d/e", &[("x", "book")])),
                &[],
            ),
            (
                "GET",
                "/a/hello/b/world/c",
                Some(("/{x=a/*}/b/{y=*}/c", &[("x", "a/hello"), ("y", "world")])),
                &[],
            ),
            (
                "GET",
                "/a/b/zoo/d/animal/tiger",
                Some((
                    "/a/{x=b/*}/{y=d/**}",
                    &[("x", "b/zoo"), ("y", "d/animal/tiger")],
                )),
                &[],
            ),
            (
                "GET",
                "/alpha/dog/beta/eat/bones/gamma",
                Some((
                    "/alpha/{x=*}/beta/{y=**}/gamma",
                    &[("x", "dog"), ("y", "eat/bones")],
                )),
                &[],
            ),
            ("GET", "/foo/a", Some(("/{x=*}/a", &[("x", "foo")])), &[]),
            (
                "GET",
                "/foo/bar/a/b",
                Some(("/{x=**}/a/b", &[("x", "foo/bar")])),
                &[],
            ),
            (
                "GET",
                "/a/b/foo",
                Some(("/a/b/{x=*}", &[("x", "foo")])),
                &[],
            ),
            (
                "GET",
                "/a/b/c/foo/bar/baz",
                Some(("/a/b/c/{x=**}", &[("x", "foo/bar/baz")])),
                &[],
            ),
            (
                "GET",
                "/foo/d/e/f/bar/baz",
                Some(("/{x=*}/d/e/f/{y=**}", &[("x", "foo"), ("y", "bar/baz")])),
                &[],
            ),
        ],
    },
    Group {
        name: "PercentEscapesUnescapedForSingleSegment",
        settings: &[],
        needs: &[],
        bindings: &[get("/a/{x}/c")],
        rows: &[(
            "GET",
            "/a/p%20q%2Fr+/c",
            Some(("/a/{x}/c", &[("x", "p q/r+")])),
            &[],
        )],
    },
    Group {
        name: "PercentEscapesNotUnescapedForMultiSegment1",
        settings: &[],
        needs: &[],
        bindings: &[get("/a/{x=p/*/q/*}/c")],
        rows: &[(
            "GET",
            "/a/p/foo%20foo/q/bar%2Fbar/c",
            Some(("/a/{x=p/*/q/*}/c", &[("x", "p/foo foo/q/bar%2Fbar")])),
            &[],
        )],
    },
    Group {
        name: "PercentEscapesNotUnescapedForMultiSegment2",
        settings: &[],
        needs: LAD,
        bindings: &[get("/a/{x=**}/c")],
        rows: &[(
            "GET",
            "/a/p/foo%20foo/q/bar%2Fbar+/c",
            Some(("/a/{x=**}/c", &[("x", "p/foo foo/q/bar%2Fbar+")])),
            &[],
        )],
    },
    Group {
        name: "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptReservedImplicit",
        settings: &[],
        needs: LAD,
        bindings: &[get("/a/{x=*}/{y=**}/c")],
        rows: &[(
            "GET",
            RESERVED_PATH,
            Some((
                "/a/{x=*}/{y=**}/c",
                &[
                    ("x", RESERVED),
                    (
                        "y",
                        "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D",
                    ),
                ],
            )),
            &[Opt::KeepReserved],
        )],
    },
    Group {
        name: "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptReservedExplicit",
        settings: &[Opt::KeepReserved],
        needs: LAD,
        bindings: &[get("/a/{x=*}/{y=**}/c")],
        rows: &[(
            "GET",
            RESERVED_PATH,
            Some((
                "/a/{x=*}/{y=**}/c",
                &[
                    ("x", RESERVED),
                    (
                        "y",
                        "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D",
                    ),
                ],
            )),
            &[],
        )],
    },
    Group {
        name: "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAllExceptSlash",
        settings: &[Opt::DecodeAllButSlash],
        needs: LAD,
        bindings: &[get("/a/{x=*}/{y=**}/c")],
        rows: &[(
            "GET",
            RESERVED_PATH,
            Some((
                "/a/{x=*}/{y=**}/c",
                &[("x", RESERVED), ("y", "!#$&'()*+,%2F:;=?@[]")],
            )),
            &[],
        )],
    },
    Group {
        name: "OnlyUnreservedCharsAreUnescapedForMultiSegmentMatchUnescapeAll",
        settings: &[Opt::DecodeAll],
        needs: LAD,
        bindings: &[get("/a/{x=*}/{y=**}/c")],
        rows: &[(
            "GET",
            RESERVED_PATH,
            Some(("/a/{x=*}/{y=**}/c", &[("x", RESERVED), ("y", RESERVED)])),
            &[],
        )],
    },
    Group {
        name: "CustomVerbIssue",
        settings: &[],
        needs: &[],
        bindings: &[get("/person"), get("/person/{id=*}"), get("/{x=**}:verb")],
        rows: &[
            (
                "GET",
                "/person:verb",
                Some(("/{x=**}:verb", &[("x", "person")])),
                &[],
            ),
            // http.proto's reading: `/person/{id}` is the more specific template and `:verb`
            // is part of its segment. Envoy: `verb` is registered, so it is a verb.
            (
                "GET",
                "/person/jason:verb",
                Some(("/{x=**}:verb", &[("x", "person/jason")])),
                &[Opt::VerbsRegistered],
            ),
            (
                "GET",
                "/animal:verb",
                Some(("/{x=**}:verb", &[("x", "animal")])),
                &[],
            ),
            (
                "GET",
                "/animal/cat:verb",
                Some(("/{x=**}:verb", &[("x", "animal/cat")])),
                &[],
            ),
            ("GET", "/person", Some(("/person", &[])), &[]),
            (
                "GET",
                "/person/jason",
                Some(("/person/{id=*}", &[("id", "jason")])),
                &[],
            ),
            ("GET", "/animal", NONE, &[]),
            ("GET", "/animal/cat", NONE, &[]),
            ("GET", "/person:other", NONE, &[]),
            (
                "GET",
                "/person/jason:other",
                Some(("/person/{id=*}", &[("id", "jason:other")])),
                &[],
            ),
            ("GET", "/animal:other", NONE, &[]),
            ("GET", "/animal/cat:other", NONE, &[]),
        ],
    },
    Group {
        name: "MatchUnregisteredCustomVerb",
        settings: &[Opt::VerbsAny],
        needs: &[],
        bindings: &[
            get("/person/{id=*}"),
            get("/person/**"),
            get("/person/{id=*}/name"),
            get("/{x=**}:verb"),
        ],
        rows: &[
            (
                "GET",
                "/person:verb",
                Some(("/{x=**}:verb", &[("x", "person")])),
                &[],
            ),
            (
                "GET",
                "/person/jason:verb",
                Some(("/{x=**}:verb", &[("x", "person/jason")])),
                &[],
            ),
            (
                "GET",
                "/person/jason/name",
                Some(("/person/{id=*}/name", &[("id", "jason")])),
                &[],
            ),
            (
                "GET",
                "/person/jason:verb/name",
                Some(("/person/{id=*}/name", &[("id", "jason:verb")])),
                &[],
            ),
            (
                "GET",
                "/animal:verb",
                Some(("/{x=**}:verb", &[("x", "animal")])),
                &[],
            ),
            (
                "GET",
                "/animal/cat:verb",
                Some(("/{x=**}:verb", &[("x", "animal/cat")])),
                &[],
            ),
            ("GET", "/person:other", NONE, &[]),
            ("GET", "/person/jason:other", NONE, &[]),
            ("GET", "/animal:other", NONE, &[]),
            ("GET", "/animal/cat:other", NONE, &[]),
        ],
    },
    Group {
        name: "VariableBindingsWithCustomVerb",
        settings: &[],
        needs: LAD,
        bindings: &[
            get("/a/{y=*}:verb"),
            get("/a/{y=d/**}:verb"),
            get("/{x=*}/a:verb"),
            get("/{x=**}/b:verb"),
            get("/e/{x=*}/f:verb"),
            get("/g/{x=**}/h:verb"),
        ],
        rows: &[
            (
                "GET",
                "/a/world:verb",
                Some(("/a/{y=*}:verb", &[("y", "world")])),
                &[],
            ),
            (
                "GET",
                "/a/d/animal/tiger:verb",
                Some(("/a/{y=d/**}:verb", &[("y", "d/animal/tiger")])),
                &[],
            ),
            (
                "GET",
                "/foo/a:verb",
                Some(("/{x=*}/a:verb", &[("x", "foo")])),
                &[],
            ),
            (
                "GET",
                "/foo/bar/baz/b:verb",
                Some(("/{x=**}/b:verb", &[("x", "foo/bar/baz")])),
                &[],
            ),
            (
                "GET",
                "/e/foo/f:verb",
                Some(("/e/{x=*}/f:verb", &[("x", "foo")])),
                &[],
            ),
            (
                "GET",
                "/g/foo/bar/h:verb",
                Some(("/g/{x=**}/h:verb", &[("x", "foo/bar")])),
                &[],
            ),
        ],
    },
    Group {
        name: "ConstantSuffixesWithVariable",
        settings: &[],
        needs: LAD,
        bindings: &[
            get("/a/{x=b/**}"),
            get("/a/{x=b/**}/z"),
            get("/a/{x=b/**}/y/z"),
            get("/a/{x=b/**}:verb"),
            get("/a/{x=**}"),
            get("/c/{x=*}/{y=d/**}/e"),
            get("/c/{x=*}/{y=d/**}/e:verb"),
            get("/f/{x=*}/{y=**}/g"),
            get("/f/{x=*}/{y=**}/g:verb"),
            get("/a/{x=b/*/y/z/**}/foo"),
            get("/a/{x=b/*/**/y/z}/foo"),
        ],
        rows: &[
            (
                "GET",
                "/a/b/hello/world/c",
                Some(("/a/{x=b/**}", &[("x", "b/hello/world/c")])),
                &[],
            ),
            (
                "GET",
                "/a/b/world/c/z",
                Some(("/a/{x=b/**}/z", &[("x", "b/world/c")])),
                &[],
            ),
            (
                "GET",
                "/a/b/world/c/y/z",
                Some(("/a/{x=b/**}/y/z", &[("x", "b/world/c")])),
                &[],
            ),
            (
                "GET",
                "/a/b/world/c:verb",
                Some(("/a/{x=b/**}:verb", &[("x", "b/world/c")])),
                &[],
            ),
            (
                "GET",
                "/a/hello/b/world/c",
                Some(("/a/{x=**}", &[("x", "hello/b/world/c")])),
                &[],
            ),
            (
                "GET",
                "/c/hello/d/esp/world/e",
                Some((
                    "/c/{x=*}/{y=d/**}/e",
                    &[("x", "hello"), ("y", "d/esp/world")],
                )),
                &[],
            ),
            (
                "GET",
                "/c/hola/d/esp/mundo/e:verb",
                Some((
                    "/c/{x=*}/{y=d/**}/e:verb",
                    &[("x", "hola"), ("y", "d/esp/mundo")],
                )),
                &[],
            ),
            (
                "GET",
                "/f/foo/bar/baz/g",
                Some(("/f/{x=*}/{y=**}/g", &[("x", "foo"), ("y", "bar/baz")])),
                &[],
            ),
            (
                "GET",
                "/f/foo/bar/baz/g:verb",
                Some(("/f/{x=*}/{y=**}/g:verb", &[("x", "foo"), ("y", "bar/baz")])),
                &[],
            ),
            (
                "GET",
                "/a/b/foo/y/z/bar/baz/foo",
                Some(("/a/{x=b/*/y/z/**}/foo", &[("x", "b/foo/y/z/bar/baz")])),
                &[],
            ),
            (
                "GET",
                "/a/b/foo/bar/baz/y/z/foo",
                Some(("/a/{x=b/*/**/y/z}/foo", &[("x", "b/foo/bar/baz/y/z")])),
                &[],
            ),
        ],
    },
    Group {
        name: "CustomVerbMatches",
        settings: &[],
        needs: LAD,
        bindings: &[
            get("/some/const:verb"),
            get("/some/*:verb"),
            get("/some/*/foo:verb"),
            get("/other/**:verb"),
            get("/other/**/const:verb"),
        ],
        rows: &[
            (
                "GET",
                "/some/const:verb",
                Some(("/some/const:verb", &[])),
                &[],
            ),
            ("GET", "/some/other:verb", Some(("/some/*:verb", &[])), &[]),
            ("GET", "/some/other:verb/", NONE, &[]),
            (
                "GET",
                "/some/bar/foo:verb",
                Some(("/some/*/foo:verb", &[])),
                &[],
            ),
            ("GET", "/some/foo1/foo2/foo:verb", NONE, &[]),
            ("GET", "/some/foo/bar:verb", NONE, &[]),
            (
                "GET",
                "/other/bar/foo:verb",
                Some(("/other/**:verb", &[])),
                &[],
            ),
            (
                "GET",
                "/other/bar/foo/const:verb",
                Some(("/other/**/const:verb", &[])),
                &[],
            ),
        ],
    },
    Group {
        name: "CustomVerbMatch2",
        settings: &[],
        needs: &[],
        bindings: &[get("/{a=*}/{b=*}:verb")],
        rows: &[(
            "GET",
            "/some:verb/const:verb",
            Some(("/{a=*}/{b=*}:verb", &[("a", "some:verb"), ("b", "const")])),
            &[],
        )],
    },
    Group {
        name: "CustomVerbMatch3",
        settings: &[],
        needs: &[],
        bindings: &[get("/foo/{a=*}")],
        rows: &[(
            "GET",
            "/foo/other:verb",
            Some(("/foo/{a=*}", &[("a", "other:verb")])),
            &[],
        )],
    },
    Group {
        name: "CustomVerbMatch4",
        settings: &[],
        needs: &[],
        bindings: &[get("/foo/*/hello")],
        rows: &[(
            "GET",
            "/foo/other:verb/hello",
            Some(("/foo/*/hello", &[])),
            &[],
        )],
    },
    Group {
        name: "CustomVerbMatch5",
        settings: &[],
        needs: &[],
        bindings: &[get("/{a=**}:verb"), get("/{a=**}")],
        rows: &[
            (
                "GET",
                "/some:verb/const:verb",
                Some(("/{a=**}:verb", &[("a", "some:verb/const")])),
                &[],
            ),
            (
                "GET",
                "/some:verb/const",
                Some(("/{a=**}", &[("a", "some:verb/const")])),
                &[],
            ),
            (
                "GET",
                "/some:verb2/const:verb2",
                Some(("/{a=**}", &[("a", "some:verb2/const:verb2")])),
                &[],
            ),
        ],
    },
    Group {
        name: "RejectPartialMatches",
        settings: &[],
        needs: &[],
        bindings: &[
            get("/prefix/middle/suffix"),
            get("/prefix/middle"),
            get("/prefix"),
        ],
        rows: &[
            (
                "GET",
                "/prefix/middle/suffix",
                Some(("/prefix/middle/suffix", &[])),
                &[],
            ),
            ("GET", "/prefix/middle", Some(("/prefix/middle", &[])), &[]),
            ("GET", "/prefix", Some(("/prefix", &[])), &[]),
            ("GET", "/prefix/middle/suffix/other", NONE, &[]),
            ("GET", "/prefix/middle/other", NONE, &[]),
            ("GET", "/prefix/other", NONE, &[]),
            ("GET", "/other", NONE, &[]),
        ],
    },
    Group {
        name: "LookupReturnsNullIfMatcherEmpty",
        settings: &[],
        needs: &[],
        bindings: &[],
        rows: &[("GET", "a/b/blue/foo", NONE, &[])],
    },
    Group {
        name: "LookupSimplePaths",
        settings: &[],
        needs: &[],
        bindings: &[
            get("/prefix/middle/suffix"),
            get("/prefix/middle/othersuffix"),
            get("/prefix/othermiddle/suffix"),
            get("/otherprefix/middle/suffix"),
            get("/otherprefix/suffix"),
        ],
        rows: &[
            ("GET", "/prefix/not/a/path", NONE, &[]),
            ("GET", "/prefix/middle", NONE, &[]),
            ("GET", "/prefix/not/othermiddle", NONE, &[]),
            ("GET", "/otherprefix/suffix/othermiddle", NONE, &[]),
            (
                "GET",
                "/prefix/middle/suffix",
                Some(("/prefix/middle/suffix", &[])),
                &[],
            ),
            (
                "GET",
                "/prefix/middle/othersuffix",
                Some(("/prefix/middle/othersuffix", &[])),
                &[],
            ),
            (
                "GET",
                "/prefix/othermiddle/suffix",
                Some(("/prefix/othermiddle/suffix", &[])),
                &[],
            ),
            (
                "GET",
                "/otherprefix/middle/suffix",
                Some(("/otherprefix/middle/suffix", &[])),
                &[],
            ),
            (
                "GET",
                "/otherprefix/suffix",
                Some(("/otherprefix/suffix", &[])),
                &[],
            ),
            (
                "GET",
                "/otherprefix/suffix?foo=bar",
                Some(("/otherprefix/suffix", &[])),
                &[],
            ),
        ],
    },
    Group {
        name: "LookupReturnsNullForOverspecifiedPath",
        settings: &[],
        needs: &[],
        bindings: &[get("/a/b/c"), get("/a/b")],
        rows: &[("GET", "/a/b/c/d", NONE, &[])],
    },
    Group {
        name: "ReturnNullvoidSharedPtrForUnderspecifiedPath",
        settings: &[],
        needs: &[],
        bindings: &[get("/a/b/c/d")],
        rows: &[("GET", "/a/b/c", NONE, &[])],
    },
    Group {
        name: "DifferentHttpMethod",
        settings: &[],
        needs: &[],
        bindings: &[get("/a/b")],
        rows: &[
            ("GET", "/a/b", Some(("/a/b", &[])), &[]),
            ("POST", "/a/b", NONE, &[]),
        ],
    },
];

const RESERVED: &str = "!#$&'()*+,/:;=?@[]";
const RESERVED_PATH: &str = "/a/%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D/\
                             %21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D/c";

fn leak_bindings(list: &[(&'static str, &'static str)]) -> &'static [HttpBinding] {
    let bindings: Vec<HttpBinding> = list
        .iter()
        .map(|&(http_method, template)| HttpBinding {
            method: template,
            http_method,
            template,
            body: "",
            response_body: "",
            api_version: "",
        })
        .collect();
    Box::leak(bindings.into_boxed_slice())
}

/// Routes `path`: the matched template and its variables, or `None`.
fn lookup(router: &Router, method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
    router
        .route(method, path)
        .ok()
        .map(|m| (m.binding.method.to_string(), m.variables))
}

fn owned(want: Option<(&str, Vars)>) -> Option<(String, Vec<(String, String)>)> {
    want.map(|(template, vars)| {
        (
            template.to_string(),
            vars.iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        )
    })
}

fn check_group(group: &Group) {
    let bindings = leak_bindings(group.bindings);
    for &(method, path, want, row_needs) in group.rows {
        let want = owned(want);
        let (envoy, matched, plain) = option_sets(group.settings, group.needs, row_needs);
        let name = group.name;
        let router = |options: RouterOptions| match Router::with_options(bindings, options) {
            Ok(r) => r,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(
            lookup(&router(envoy), method, path),
            want,
            "{name}: {method} {path} with Envoy's options"
        );
        assert_eq!(
            lookup(&router(matched), method, path),
            want,
            "{name}: {method} {path} with the default and {row_needs:?} {:?}",
            group.needs
        );
        if let Some(plain) = plain {
            assert_ne!(
                lookup(&router(plain), method, path),
                want,
                "{name}: {method} {path}: {row_needs:?} should be needed"
            );
        }
    }
    // A group that needs options to parse its templates fails without them.
    if group.needs.contains(&Opt::LiteralsAfterDeep) {
        assert!(
            Router::new(bindings).is_err(),
            "{}: parses without {:?}",
            group.name,
            group.needs
        );
    }
}

#[test]
fn path_matcher_cases() {
    for group in GROUPS {
        check_group(group);
    }
}

/// PercentEscapesUnescapedForSingleSegmentAllAsciiChars: every ASCII byte escaped, in upper
/// and lower case hex, is decoded in a single-segment variable. `.` needs lenient segments
/// (by default a `.` segment routes nowhere, even escaped).
#[test]
fn single_segment_decodes_every_ascii_byte() {
    static BINDINGS: &[HttpBinding] = &[HttpBinding {
        method: "x",
        http_method: "GET",
        template: "/{x}",
        body: "",
        response_body: "",
        api_version: "",
    }];
    for upper in [false, true] {
        for byte in 0u8..0x7f {
            let path = if upper {
                format!("/%{byte:02X}")
            } else {
                format!("/%{byte:02x}")
            };
            let want = Some((
                "x".to_string(),
                vec![("x".to_string(), (byte as char).to_string())],
            ));
            let needs: &[Opt] = if byte == b'.' { &[Opt::Lenient] } else { &[] };
            let (envoy, matched, plain) = option_sets(&[], &[], needs);
            for options in [envoy, matched] {
                let router = Router::with_options(BINDINGS, options).unwrap();
                assert_eq!(lookup(&router, "GET", &path), want, "{path}");
            }
            if let Some(plain) = plain {
                let router = Router::with_options(BINDINGS, plain).unwrap();
                assert_eq!(lookup(&router, "GET", &path), None, "{path}");
            }
        }
    }
}

/// WildCardMatchesManyWithoutStackOverflow: 64,000 empty segments under a `**` (eeops'
/// matcher does not recurse; empty segments need lenient segments).
#[test]
fn deep_wildcard_over_many_empty_segments() {
    static BINDINGS: &[HttpBinding] = &[HttpBinding {
        method: "a",
        http_method: "GET",
        template: "/a/**/x",
        body: "",
        response_body: "",
        api_version: "",
    }];
    let slashes = "/".repeat(64_000);
    let hit = format!("/a/{slashes}/x");
    let miss = format!("/a/{slashes}/y");
    let (envoy, matched, plain) = option_sets(&[], LAD, &[Opt::Lenient]);
    for options in [envoy, matched] {
        let router = Router::with_options(BINDINGS, options).unwrap();
        assert_eq!(
            lookup(&router, "GET", &hit).map(|m| m.0).as_deref(),
            Some("a")
        );
        assert_eq!(lookup(&router, "GET", &miss), None);
    }
    let router = Router::with_options(BINDINGS, plain.unwrap()).unwrap();
    assert_eq!(lookup(&router, "GET", &hit), None);
}

/// BodyFieldPathTest: the route carries its binding's body rule.
#[test]
fn route_carries_the_body_rule() {
    static BINDINGS: &[HttpBinding] = &[
        HttpBinding {
            method: "a",
            http_method: "GET",
            template: "/a",
            body: "b",
            response_body: "",
            api_version: "",
        },
        HttpBinding {
            method: "cd",
            http_method: "GET",
            template: "/c/d",
            body: "e.f.g",
            response_body: "",
            api_version: "",
        },
    ];
    for options in [RouterOptions::default(), RouterOptions::envoy()] {
        let router = Router::with_options(BINDINGS, options).unwrap();
        assert_eq!(router.route("GET", "/a").unwrap().binding.body, "b");
        assert_eq!(router.route("GET", "/c/d").unwrap().binding.body, "e.f.g");
    }
}

// ---------------------------------------------------------------------------------------
// path_matcher_test.cc's query-parameter cases, through `decode_request` into a message with
// string fields x, y, z and t.

fn query_message() -> MessageDescriptor {
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
    let field = |name: &str, number: i32| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(Type::String as i32),
        ..Default::default()
    };
    let file = FileDescriptorProto {
        name: Some("envoy_cases.proto".into()),
        package: Some("envoy.cases".into()),
        syntax: Some("proto3".into()),
        message_type: vec![DescriptorProto {
            name: Some("Q".into()),
            field: vec![field("x", 1), field("y", 2), field("z", 3), field("t", 4)],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_proto(file).unwrap();
    pool.get_message_by_name("envoy.cases.Q").unwrap()
}

/// (path, query, system parameters, [(field, value)] set in the message, Envoy settings, needs)
type QueryCase = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Vars,
    &'static [Opt],
    &'static [Opt],
);

static QUERY_CASES: &[QueryCase] = &[
    // VariableBindingsWithQueryParams
    ("/a", "x=hello", &[], &[("x", "hello")], &[], &[]),
    (
        "/a/book/b",
        "y=shelf&z=author",
        &[],
        &[("x", "book"), ("y", "shelf"), ("z", "author")],
        &[],
        &[],
    ),
    (
        "/a/hello/b/endpoints/c",
        "z=server&t=proxy",
        &[],
        &[
            ("x", "hello"),
            ("y", "endpoints"),
            ("z", "server"),
            ("t", "proxy"),
        ],
        &[],
        &[],
    ),
    // VariableBindingsWithQueryParamsEncoding
    (
        "/a",
        "x=Hello%20world",
        &[],
        &[("x", "Hello world")],
        &[],
        &[],
    ),
    ("/a", "x=%24%25%2F%20%0A", &[], &[("x", "$%/ \n")], &[], &[]),
    // QueryParameterNotUnescapePlus: Envoy keeps `+` by default; eeops reads HTML forms.
    (
        "/a",
        "x=Hello+world&y=%2B+%20",
        &[],
        &[("x", "Hello+world"), ("y", "++ ")],
        &[],
        &[Opt::PlusKept],
    ),
    // QueryParameterUnescapePlus
    (
        "/a",
        "x=Hello+world&y=%2B+%20",
        &[],
        &[("x", "Hello world"), ("y", "+  ")],
        &[Opt::PlusAsSpace],
        &[],
    ),
    // VariableBindingsWithQueryParamsAndSystemParams
    (
        "/a/hello/b",
        "y=world&api_key=secret",
        &["key", "api_key"],
        &[("x", "hello"), ("y", "world")],
        &[],
        &[],
    ),
    (
        "/a/hello/b",
        "key=secret&y=world",
        &["key", "api_key"],
        &[("x", "hello"), ("y", "world")],
        &[],
        &[],
    ),
];

#[test]
fn query_parameter_cases() {
    let bindings = leak_bindings(&[get("/a"), get("/a/{x}/b"), get("/a/{x}/b/{y}/c")]);
    let desc = query_message();
    let decode = |options: RouterOptions, path: &str, query: &str, system: &[&str]| {
        let router = Router::with_options(bindings, options).unwrap();
        let route = router.route("GET", path).unwrap();
        let msg: DynamicMessage = decode_request(&route, &desc, Some(query), b"", system).unwrap();
        ["x", "y", "z", "t"]
            .iter()
            .filter_map(|f| {
                let v = msg.get_field_by_name(f)?;
                let s = v.as_str()?.to_string();
                (!s.is_empty()).then(|| (f.to_string(), s))
            })
            .collect::<Vec<_>>()
    };
    for &(path, query, system, want, settings, needs) in QUERY_CASES {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        let (envoy, matched, plain) = option_sets(settings, &[], needs);
        assert_eq!(
            decode(envoy, path, query, system),
            want,
            "{path}?{query} (Envoy)"
        );
        assert_eq!(decode(matched, path, query, system), want, "{path}?{query}");
        if let Some(plain) = plain {
            assert_ne!(decode(plain, path, query, system), want, "{path}?{query}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Properties over every option set.

fn every_option_set() -> Vec<RouterOptions> {
    let mut sets = Vec::new();
    for decoding in [
        PathDecoding::AllButSlash,
        PathDecoding::AllButReserved,
        PathDecoding::All,
    ] {
        for verbs in [
            VerbMatching::Declared,
            VerbMatching::Registered,
            VerbMatching::Any,
        ] {
            for flags in 0u8..32 {
                sets.push(
                    RouterOptions::default()
                        .with_path_decoding(decoding)
                        .with_verb_matching(verbs)
                        .with_trailing_slash(flags & 1 != 0)
                        .with_deep_wildcard_matches_empty(flags & 2 != 0)
                        .with_literals_after_deep_wildcard(flags & 4 != 0)
                        .with_lenient_segments(flags & 8 != 0)
                        .with_query_plus_as_space(flags & 16 != 0),
                );
            }
        }
    }
    sets
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    static TEMPLATES: &[(&str, &str)] = &[
        ("GET", "/v1/{name=projects/*/operations/**}"),
        ("POST", "/v1/{name=projects/*/operations/**}:cancel"),
        ("GET", "/v1/{name=projects/*}/operations"),
        ("GET", "/v1/{a}/{b=x/*}:go"),
        ("GET", "/**"),
    ];
    static WITH_LITERALS: &[(&str, &str)] = &[
        ("GET", "/v1/{name=a/**/b}/c"),
        ("GET", "/v1/{name=**}/c/d:go"),
        ("GET", "/"),
    ];

    /// One router per option set (those that parse literals after `**` get such templates too).
    fn routers() -> &'static [Router] {
        static ROUTERS: std::sync::OnceLock<Vec<Router>> = std::sync::OnceLock::new();
        ROUTERS.get_or_init(|| {
            let plain = leak_bindings(TEMPLATES);
            let literals = leak_bindings(&[TEMPLATES, WITH_LITERALS].concat());
            every_option_set()
                .into_iter()
                .map(|options| {
                    let table = if options.literals_after_deep_wildcard {
                        literals
                    } else {
                        plain
                    };
                    Router::with_options(table, options).unwrap()
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the options, routing an arbitrary path never panics.
        #[test]
        fn routing_arbitrary_paths_never_panics(path in "[/a-dx:%2F.]{0,24}") {
            for router in routers() {
                let _ = router.route("GET", &path);
                let _ = router.route("POST", &path);
            }
        }

        /// With http.proto's decoding, every option set routes what eeops' client expands back
        /// to the very name: Envoy's routing choices never change a value eeops sends.
        #[test]
        fn client_paths_route_back_under_every_option(
            project in "[^/]{1,6}",
            ids in prop::collection::vec("[^/]{1,6}", 1..4),
        ) {
            prop_assume!(project != "." && project != "..");
            prop_assume!(ids.iter().all(|id| id != "." && id != ".."));
            let name = format!("projects/{project}/operations/{}", ids.join("/"));
            for router in routers() {
                if router.options().path_decoding != PathDecoding::AllButSlash {
                    continue;
                }
                for compiled in &router.bindings()[..2] {
                    let path = compiled.template().expand(|_| Some(name.as_str())).unwrap();
                    let route = router.route(compiled.binding().http_method, &path);
                    let got = route.map(|m| (m.binding.template, m.variables));
                    prop_assert_eq!(
                        got,
                        Ok((compiled.binding().template, vec![("name".to_string(), name.clone())])),
                        "{} with {:?}", path, router.options()
                    );
                }
            }
        }
    }
}
