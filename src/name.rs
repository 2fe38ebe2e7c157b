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
