//! Operation names as Earth Engine exposes them: `projects/{project}/operations/{operation}`.
//!
//! The project is one segment; the operation id is one or more segments (Earth Engine task ids
//! are single segments like `ABCDEF1234567890ABCDEFGH`, but the `**` of the REST bindings
//! allows more). No segment may be empty, `.` or `..`.
//!
//! ```
//! use eeops::name::OperationName;
//!
//! let name: OperationName = "projects/my-project/operations/ABCDEF1234567890ABCDEFGH".parse()?;
//! assert_eq!(name.project(), "my-project");
//! assert_eq!(name.id(), "ABCDEF1234567890ABCDEFGH");
//!
//! let same = OperationName::resolve("ABCDEF1234567890ABCDEFGH", Some("my-project"))?;
//! assert_eq!(same, name);
//! # Ok::<(), eeops::name::NameError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// The form every operation name has, as error messages spell it.
pub const EXPECTED_FORM: &str = "projects/{project}/operations/{operation}";

const PROJECTS: &str = "projects/";
const OPERATIONS: &str = "/operations/";

/// A validated operation name, `projects/{project}/operations/{operation}`.
///
/// ```
/// use eeops::name::OperationName;
///
/// let name = OperationName::new("my-project", "ABC123")?;
/// assert_eq!(name.as_str(), "projects/my-project/operations/ABC123");
/// assert_eq!(name.to_string(), "projects/my-project/operations/ABC123");
///
/// assert!("operations/ABC123".parse::<OperationName>().is_err());
/// assert!("projects/p/operations/a//b".parse::<OperationName>().is_err());
/// # Ok::<(), eeops::name::NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationName {
    name: String,
    /// Byte length of the project (which starts right after `projects/`).
    project_len: usize,
}

impl OperationName {
    /// Builds the name of an operation from a project and an Earth Engine task id, validating
    /// both: the project must be one non-empty segment other than `.`/`..`; the id must be
    /// non-empty segments other than `.`/`..`.
    ///
    /// ```
    /// use eeops::name::OperationName;
    ///
    /// let name = OperationName::new("p", "ABCDEF1234567890ABCDEFGH")?;
    /// assert_eq!(name.id(), "ABCDEF1234567890ABCDEFGH");
    /// assert!(OperationName::new("a/b", "X").is_err());
    /// assert!(OperationName::new("p", "").is_err());
    /// # Ok::<(), eeops::name::NameError>(())
    /// ```
    pub fn new(project: &str, task_id: &str) -> Result<OperationName, NameError> {
        let name = format!("{PROJECTS}{project}{OPERATIONS}{task_id}");
        let fail = |problem| NameError {
            input: name.clone(),
            problem,
        };
        check_project(project).map_err(fail)?;
        check_id(task_id).map_err(fail)?;
        Ok(OperationName {
            project_len: project.len(),
            name,
        })
    }

    /// Parses a full name, `projects/{project}/operations/{operation}`.
    ///
    /// ```
    /// use eeops::name::OperationName;
    ///
    /// let name = OperationName::parse("projects/p/operations/a/b")?;
    /// assert_eq!(name.id(), "a/b");
    /// let err = OperationName::parse("projects/p/operations").unwrap_err();
    /// assert!(err.to_string().contains("projects/{project}/operations/{operation}"));
    /// # Ok::<(), eeops::name::NameError>(())
    /// ```
    pub fn parse(input: &str) -> Result<OperationName, NameError> {
        let fail = |problem| NameError {
            input: input.to_owned(),
            problem,
        };
        let rest = input
            .strip_prefix(PROJECTS)
            .ok_or_else(|| fail(NameProblem::MissingProjectsPrefix))?;
        let project_len = rest
            .find('/')
            .ok_or_else(|| fail(NameProblem::MissingOperations))?;
        let project = &rest[..project_len];
        check_project(project).map_err(fail)?;
        let after = &rest[project_len..];
        let id = match after.strip_prefix(OPERATIONS) {
            Some(id) => id,
            None if after == "/operations" => return Err(fail(NameProblem::EmptyId)),
            None => return Err(fail(NameProblem::MissingOperations)),
        };
        check_id(id).map_err(fail)?;
        Ok(OperationName {
            name: input.to_owned(),
            project_len,
        })
    }

    /// Accepts either a full name or a bare task id (no `/`, e.g.
    /// `ABCDEF1234567890ABCDEFGH`); a bare id gets `default_project`, and is refused when
    /// there is none.
    ///
    /// ```
    /// use eeops::name::OperationName;
    ///
    /// let a = OperationName::resolve("projects/p/operations/X1", None)?;
    /// let b = OperationName::resolve("X1", Some("p"))?;
    /// assert_eq!(a, b);
    /// assert!(OperationName::resolve("X1", None).is_err());
    /// # Ok::<(), eeops::name::NameError>(())
    /// ```
    pub fn resolve(input: &str, default_project: Option<&str>) -> Result<OperationName, NameError> {
        if input.starts_with(PROJECTS) || input.contains('/') {
            return OperationName::parse(input);
        }
        match default_project {
            Some(project) => OperationName::new(project, input),
            None => Err(NameError {
                input: input.to_owned(),
                problem: NameProblem::NoProject,
            }),
        }
    }

    /// The project, e.g. `my-project`.
    pub fn project(&self) -> &str {
        &self.name[PROJECTS.len()..PROJECTS.len() + self.project_len]
    }

    /// The operation id (everything after `/operations/`; may contain `/`).
    pub fn id(&self) -> &str {
        &self.name[PROJECTS.len() + self.project_len + OPERATIONS.len()..]
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The whole name, as an owned string.
    pub fn into_string(self) -> String {
        self.name
    }
}

fn check_project(project: &str) -> Result<(), NameProblem> {
    if project.is_empty() {
        Err(NameProblem::EmptyProject)
    } else if project.contains('/') {
        Err(NameProblem::SlashInProject)
    } else if project == "." || project == ".." {
        Err(NameProblem::DotSegment)
    } else {
        Ok(())
    }
}

fn check_id(id: &str) -> Result<(), NameProblem> {
    if id.is_empty() {
        return Err(NameProblem::EmptyId);
    }
    for segment in id.split('/') {
        if segment.is_empty() {
            return Err(NameProblem::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(NameProblem::DotSegment);
        }
    }
    Ok(())
}

impl fmt::Display for OperationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for OperationName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OperationName::parse(s)
    }
}

impl AsRef<str> for OperationName {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl From<OperationName> for String {
    fn from(name: OperationName) -> String {
        name.name
    }
}

/// What is wrong with a refused operation name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name does not start with `projects/`.
    MissingProjectsPrefix,
    /// No `/operations/` after the project.
    MissingOperations,
    /// The project is empty.
    EmptyProject,
    /// The project contains `/`.
    SlashInProject,
    /// The operation id is empty.
    EmptyId,
    /// The operation id has an empty segment (`//` or a trailing `/`).
    EmptySegment,
    /// A segment is `.` or `..`.
    DotSegment,
    /// A bare task id was given and no project is known.
    NoProject,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingProjectsPrefix => "it does not start with `projects/`",
            Self::MissingOperations => "`/operations/` must follow the project",
            Self::EmptyProject => "the project is empty",
            Self::SlashInProject => "the project contains `/`",
            Self::EmptyId => "the operation id is empty",
            Self::EmptySegment => "the operation id has an empty segment",
            Self::DotSegment => "`.` and `..` are not allowed as segments",
            Self::NoProject => "a bare task id needs a project, and none is known",
        })
    }
}

/// A refused operation name: the input, and what was wrong with it.
///
/// ```
/// use eeops::name::{NameProblem, OperationName};
///
/// let err = OperationName::parse("operations/X").unwrap_err();
/// assert_eq!(err.problem(), NameProblem::MissingProjectsPrefix);
/// assert_eq!(
///     err.to_string(),
///     "invalid operation name `operations/X`: expected projects/{project}/operations/{operation}; \
///      it does not start with `projects/`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("invalid operation name `{input}`: expected {EXPECTED_FORM}; {problem}")]
pub struct NameError {
    input: String,
    problem: NameProblem,
}

impl NameError {
    /// The refused input (for [`OperationName::new`], the name it would have built).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What was wrong.
    pub fn problem(&self) -> NameProblem {
        self.problem
    }
}

#[cfg(test)]
mod tests {
    /// (input, Ok((project, id)) | Err(problem))
    type ParseCase = (
        &'static str,
        Result<(&'static str, &'static str), NameProblem>,
    );
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_cases() {
        use NameProblem as P;
        // (input, Ok((project, id)) | Err(problem))
        let cases: &[ParseCase] = &[
            (
                "projects/p/operations/ABCDEF1234567890ABCDEFGH",
                Ok(("p", "ABCDEF1234567890ABCDEFGH")),
            ),
            (
                "projects/my-project/operations/a/b/c",
                Ok(("my-project", "a/b/c")),
            ),
            ("projects/p/operations/x:y z%2F", Ok(("p", "x:y z%2F"))),
            ("projects/p/operations/operations", Ok(("p", "operations"))),
            ("operations/x", Err(P::MissingProjectsPrefix)),
            ("", Err(P::MissingProjectsPrefix)),
            ("Projects/p/operations/x", Err(P::MissingProjectsPrefix)),
            ("projects/p", Err(P::MissingOperations)),
            ("projects/p/operations", Err(P::EmptyId)),
            ("projects/p/operations/", Err(P::EmptyId)),
            ("projects/p/jobs/x", Err(P::MissingOperations)),
            ("projects//operations/x", Err(P::EmptyProject)),
            ("projects/../operations/x", Err(P::DotSegment)),
            ("projects/p/operations/a//b", Err(P::EmptySegment)),
            ("projects/p/operations/a/", Err(P::EmptySegment)),
            ("projects/p/operations/a/./b", Err(P::DotSegment)),
            ("projects/p/operations/..", Err(P::DotSegment)),
        ];
        for (input, expected) in cases {
            match (OperationName::parse(input), expected) {
                (Ok(name), Ok((project, id))) => {
                    assert_eq!((name.project(), name.id()), (*project, *id), "{input}");
                    assert_eq!(name.as_str(), *input);
                    assert_eq!(name.as_ref(), *input);
                    assert_eq!(name.to_string(), *input);
                }
                (Err(e), Err(problem)) => {
                    assert_eq!(e.problem(), *problem, "{input}");
                    assert_eq!(e.input(), *input);
                    assert!(e.to_string().contains(EXPECTED_FORM), "{e}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn new_and_resolve_cases() {
        use NameProblem as P;
        // (project, id, Ok(name) | Err(problem)) for `new`
        let cases: &[(&str, &str, Result<&str, NameProblem>)] = &[
            ("p", "ABC", Ok("projects/p/operations/ABC")),
            ("p", "a/b", Ok("projects/p/operations/a/b")),
            ("", "ABC", Err(P::EmptyProject)),
            ("a/b", "ABC", Err(P::SlashInProject)),
            ("..", "ABC", Err(P::DotSegment)),
            ("p", "", Err(P::EmptyId)),
            ("p", "a//b", Err(P::EmptySegment)),
            ("p", "..", Err(P::DotSegment)),
        ];
        for (project, id, expected) in cases {
            let got = OperationName::new(project, id);
            match (got, expected) {
                (Ok(name), Ok(want)) => {
                    assert_eq!(name.as_str(), *want);
                    assert_eq!(OperationName::parse(want).as_ref(), Ok(&name));
                }
                (Err(e), Err(problem)) => assert_eq!(e.problem(), *problem, "{project} {id}"),
                (got, want) => panic!("{project} {id}: got {got:?}, want {want:?}"),
            }
        }
        // (input, default project, Ok(name) | Err(problem)) for `resolve`
        let cases: &[(&str, Option<&str>, Result<&str, NameProblem>)] = &[
            (
                "ABCDEF1234567890ABCDEFGH",
                Some("p"),
                Ok("projects/p/operations/ABCDEF1234567890ABCDEFGH"),
            ),
            (
                "projects/q/operations/X",
                Some("p"),
                Ok("projects/q/operations/X"),
            ),
            (
                "projects/q/operations/X",
                None,
                Ok("projects/q/operations/X"),
            ),
            ("ABC", None, Err(P::NoProject)),
            ("operations/ABC", Some("p"), Err(P::MissingProjectsPrefix)),
            ("", Some("p"), Err(P::EmptyId)),
            ("ABC", Some(""), Err(P::EmptyProject)),
        ];
        for (input, project, expected) in cases {
            match (OperationName::resolve(input, *project), expected) {
                (Ok(name), Ok(want)) => assert_eq!(name.as_str(), *want),
                (Err(e), Err(problem)) => {
                    assert_eq!(e.problem(), *problem, "{input}");
                    assert!(e.to_string().contains(EXPECTED_FORM));
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
        let name: OperationName = match "projects/p/operations/x".parse() {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(String::from(name.clone()), name.clone().into_string());
    }

    proptest! {
        #[test]
        fn new_then_parse(
            project in "[^/]{1,12}".prop_filter("dot", |s| s != "." && s != ".."),
            id in "[^/]{1,12}(/[^/]{1,6}){0,2}",
        ) {
            prop_assume!(id.split('/').all(|s| s != "." && s != ".."));
            let name = OperationName::new(&project, &id).unwrap();
            let parsed = OperationName::parse(name.as_str()).unwrap();
            prop_assert_eq!(parsed.project(), project.as_str());
            prop_assert_eq!(parsed.id(), id.as_str());
            prop_assert_eq!(parsed, name);
        }
    }
}
