//! Credentials, through google-cloud-auth.
//!
//! A client takes its credentials from one of:
//!
//! * **credentials you supply**, any [`google_cloud_auth::credentials::Credentials`], or a
//!   [`CredentialSource`] you choose;
//! * **anonymous credentials** (no headers at all): the default for loopback endpoints
//!   (`http://127.0.0.1:8080`, `localhost:8080`, `https://localhost:8443`) and the emulator;
//! * otherwise the **first credentials found** ([`CredentialSource::Discover`]), in this
//!   order:
//!   1. application default credentials from a file: the one `GOOGLE_APPLICATION_CREDENTIALS`
//!      names, or gcloud's `~/.config/gcloud/application_default_credentials.json` (written by
//!      `gcloud auth application-default login`);
//!   2. the Earth Engine credentials file, `~/.config/earthengine/credentials` (written by
//!      `earthengine authenticate`; the Earth Engine tools have no variable that moves it, so
//!      neither does eeops: set `HOME` to use another), read as authorized-user credentials by
//!      google-cloud-auth; its `project` is the quota project unless one is set;
//!   3. the metadata server, on a Google Cloud machine (a `GCE_METADATA_HOST` variable, a
//!      Cloud Run or Cloud Functions environment, or a machine whose DMI product name says
//!      Google).
//!
//!   When none is there, building the client fails with one short
//!   [`ErrorKind::Auth`] error that lists what was tried and the two commands that fix it.
//!
//! The scopes asked for are the Earth Engine scope [`EARTHENGINE_SCOPE`] unless other scopes
//! are chosen (e.g. [`CLOUD_PLATFORM_SCOPE`]). A quota project, when set, is sent as
//! `x-goog-user-project` on every request, whatever the credentials. Both transports take
//! their headers from the same credentials;
//! [`Client::credentials_source`](super::Client::credentials_source) says which source was
//! chosen.
//!
//! Tokens never appear in `Debug` output, errors or logs: `Debug` names the credentials'
//! source only, and a failure to obtain credentials becomes an [`ErrorKind::Auth`] error
//! that carries the credential library's own message, which does not include tokens.
//!
//! [`ErrorKind::Auth`]: crate::ErrorKind::Auth

use std::fmt;
use std::path::{Path, PathBuf};

use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use http::{HeaderMap, HeaderValue};
use serde_json::Value as Json;

use crate::{Error, Result};

/// The OAuth scope of the Earth Engine API (the default).
pub const EARTHENGINE_SCOPE: &str = "https://www.googleapis.com/auth/earthengine";

/// The OAuth scope of all Google Cloud APIs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The header that names the project billed for quota.
pub const QUOTA_PROJECT_HEADER: &str = "x-goog-user-project";

/// The Earth Engine credentials file, relative to the home directory.
pub const EARTHENGINE_CREDENTIALS_PATH: &str = ".config/earthengine/credentials";

/// What to run when no credentials are found.
const FIX: &str = "run `gcloud auth application-default login` or `earthengine authenticate`";

/// Where a client's credentials come from.
///
/// ```
/// use eeops::client::auth::{CredentialSource, CLOUD_PLATFORM_SCOPE};
///
/// let adc = CredentialSource::default_with_scopes([CLOUD_PLATFORM_SCOPE]);
/// assert!(format!("{adc:?}").contains("cloud-platform"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum CredentialSource {
    /// Application default credentials with these scopes, as google-cloud-auth finds them
    /// (a file, else the metadata server).
    ApplicationDefault {
        /// The OAuth scopes to ask for.
        scopes: Vec<String>,
    },
    /// Credentials the caller built.
    Provided(Credentials),
    /// No credentials: no authorization header is sent.
    Anonymous,
    /// An Earth Engine credentials file (what `earthengine authenticate` writes: a refresh
    /// token with `client_id`, `client_secret` and usually `project`).
    EarthEngineFile {
        /// The file.
        path: PathBuf,
        /// The OAuth scopes to ask for.
        scopes: Vec<String>,
    },
    /// The first of: an application default credentials file, the Earth Engine credentials
    /// file, the metadata server on Google Cloud (see the [module documentation](self)).
    Discover {
        /// The OAuth scopes to ask for.
        scopes: Vec<String>,
    },
}

impl CredentialSource {
    /// Application default credentials with the Earth Engine scope.
    pub fn application_default() -> Self {
        Self::default_with_scopes([EARTHENGINE_SCOPE])
    }

    /// Application default credentials with the given scopes.
    pub fn default_with_scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CredentialSource::ApplicationDefault {
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The first credentials found, with the Earth Engine scope (see
    /// [`CredentialSource::Discover`]).
    ///
    /// ```
    /// use eeops::client::auth::CredentialSource;
    /// assert!(format!("{:?}", CredentialSource::discover()).starts_with("Discover"));
    /// ```
    pub fn discover() -> Self {
        CredentialSource::Discover {
            scopes: vec![EARTHENGINE_SCOPE.to_owned()],
        }
    }
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::ApplicationDefault { scopes } => f
                .debug_struct("ApplicationDefault")
                .field("scopes", scopes)
                .finish(),
            // The provider's own Debug might show more than we want: name it only.
            CredentialSource::Provided(_) => f.write_str("Provided(<credentials>)"),
            CredentialSource::Anonymous => f.write_str("Anonymous"),
            CredentialSource::EarthEngineFile { path, scopes } => f
                .debug_struct("EarthEngineFile")
                .field("path", path)
                .field("scopes", scopes)
                .finish(),
            CredentialSource::Discover { scopes } => {
                f.debug_struct("Discover").field("scopes", scopes).finish()
            }
        }
    }
}

/// The environment variables the credential search reads.
pub(crate) const SEARCH_VARIABLES: &[&str] = &[
    "HOME",
    "USERPROFILE",
    "APPDATA",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_HOST",
    "K_SERVICE",
    "CLOUD_RUN_JOB",
    "FUNCTION_TARGET",
];

/// How files and variables are read while looking for credentials and the project: the
/// process's own, or a test's.
pub(crate) struct Lookup<'a> {
    pub(crate) var: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) read: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn read_file(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

impl Lookup<'_> {
    /// The process's environment and file system.
    pub(crate) fn process() -> Lookup<'static> {
        Lookup {
            var: &env_var,
            read: &read_file,
        }
    }

    fn non_empty(&self, key: &str) -> Option<String> {
        (self.var)(key).filter(|v| !v.trim().is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        self.non_empty("HOME")
            .or_else(|| self.non_empty("USERPROFILE"))
            .map(PathBuf::from)
    }

    /// gcloud's well-known application default credentials file, where google-cloud-auth
    /// looks for it.
    fn adc_well_known(&self) -> Option<PathBuf> {
        if cfg!(windows) {
            self.non_empty("APPDATA")
                .map(|d| PathBuf::from(d).join("gcloud/application_default_credentials.json"))
        } else {
            self.home()
                .map(|h| h.join(".config/gcloud/application_default_credentials.json"))
        }
    }

    /// The Earth Engine credentials file (its place is fixed under the home directory).
    pub(crate) fn earthengine_file(&self) -> Option<PathBuf> {
        self.home().map(|h| h.join(EARTHENGINE_CREDENTIALS_PATH))
    }

    /// gcloud's configuration directory.
    fn gcloud_dir(&self) -> Option<PathBuf> {
        if let Some(d) = self.non_empty("CLOUDSDK_CONFIG") {
            return Some(PathBuf::from(d));
        }
        if cfg!(windows) {
            self.non_empty("APPDATA")
                .map(|d| PathBuf::from(d).join("gcloud"))
        } else {
            self.home().map(|h| h.join(".config/gcloud"))
        }
    }

    /// Whether this looks like a Google Cloud machine, whose metadata server hands out
    /// credentials; `Err` says why not, for the "tried" list.
    fn on_google_cloud(&self) -> std::result::Result<&'static str, ()> {
        if self.non_empty("GCE_METADATA_HOST").is_some() {
            return Ok("GCE_METADATA_HOST is set");
        }
        if self.non_empty("K_SERVICE").is_some() || self.non_empty("CLOUD_RUN_JOB").is_some() {
            return Ok("a Cloud Run environment");
        }
        if self.non_empty("FUNCTION_TARGET").is_some() {
            return Ok("a Cloud Functions environment");
        }
        match (self.read)(Path::new("/sys/class/dmi/id/product_name")) {
            Ok(name) if name.trim().starts_with("Google") => Ok("a Google Compute Engine machine"),
            _ => Err(()),
        }
    }

    /// The project of the Earth Engine credentials file, else of gcloud's active
    /// configuration (`CLOUDSDK_CORE_PROJECT` first, as gcloud does).
    pub(crate) fn file_project(&self) -> Option<String> {
        self.earthengine_project().or_else(|| self.gcloud_project())
    }

    fn earthengine_project(&self) -> Option<String> {
        let text = (self.read)(&self.earthengine_file()?).ok()?;
        let json: Json = serde_json::from_str(&text).ok()?;
        json.get("project")?
            .as_str()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
    }

    fn gcloud_project(&self) -> Option<String> {
        if let Some(p) = self.non_empty("CLOUDSDK_CORE_PROJECT") {
            return Some(p.trim().to_owned());
        }
        let dir = self.gcloud_dir()?;
        let config = self
            .non_empty("CLOUDSDK_ACTIVE_CONFIG_NAME")
            .or_else(|| (self.read)(&dir.join("active_config")).ok())
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty() && !c.contains(['/', '\\']))
            .unwrap_or_else(|| "default".to_owned());
        let text =
            (self.read)(&dir.join("configurations").join(format!("config_{config}"))).ok()?;
        ini_value(&text, "core", "project")
    }
}

/// `key = value` in `[section]` of an INI text (gcloud's properties files).
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name.trim() == section;
        } else if in_section
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            let v = v.trim();
            return (!v.is_empty()).then(|| v.to_owned());
        }
    }
    None
}

/// What [`CredentialSource::Discover`] found.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// An application default credentials file (google-cloud-auth reads it): where.
    ApplicationDefault(String),
    /// The Earth Engine credentials file.
    EarthEngine(PathBuf),
    /// The metadata server: why this machine has one.
    MetadataServer(&'static str),
    /// Nothing: the whole error message.
    Nothing(String),
}

/// Looks for credentials in the order of the [module documentation](self).
pub(crate) fn discover(lookup: &Lookup<'_>) -> Found {
    let mut tried = Vec::new();
    match lookup.non_empty("GOOGLE_APPLICATION_CREDENTIALS") {
        // Named on purpose: google-cloud-auth reports a missing or bad file itself.
        Some(path) => {
            return Found::ApplicationDefault(format!("GOOGLE_APPLICATION_CREDENTIALS={path}"));
        }
        None => tried.push("GOOGLE_APPLICATION_CREDENTIALS (not set)".to_owned()),
    }
    match lookup.adc_well_known() {
        Some(path) if (lookup.read)(&path).is_ok() => {
            return Found::ApplicationDefault(path.display().to_string());
        }
        Some(path) => tried.push(format!("{} (not there)", path.display())),
        None => tried.push("gcloud's application default credentials (no home directory)".into()),
    }
    match lookup.earthengine_file() {
        Some(path) if (lookup.read)(&path).is_ok() => return Found::EarthEngine(path),
        Some(path) => tried.push(format!("{} (not there)", path.display())),
        None => tried.push("the Earth Engine credentials file (no home directory)".into()),
    }
    match lookup.on_google_cloud() {
        Ok(why) => return Found::MetadataServer(why),
        Err(()) => tried.push("the metadata server (not on Google Cloud)".into()),
    }
    Found::Nothing(format!(
        "no credentials found (tried {}); {FIX}",
        tried.join(", ")
    ))
}

/// Ready-to-use credentials plus the quota project: what both transports ask for headers.
#[derive(Clone)]
pub(crate) struct Auth {
    credentials: Credentials,
    source: String,
    #[cfg_attr(not(test), allow(dead_code))]
    anonymous: bool,
    quota_project: Option<HeaderValue>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("source", &self.source)
            .field("quota_project", &self.quota_project)
            .finish()
    }
}

impl Auth {
    /// Builds credentials from a source. Files are looked for and read now (a missing or
    /// malformed credentials file is reported here); tokens are fetched on the first request
    /// and cached by google-cloud-auth. Sources other than anonymous and provided
    /// credentials need a Tokio runtime (a configuration error without one).
    pub fn new(source: CredentialSource, quota_project: Option<&str>) -> Result<Auth> {
        Self::with_lookup(source, quota_project, &Lookup::process())
    }

    pub(crate) fn with_lookup(
        source: CredentialSource,
        quota_project: Option<&str>,
        lookup: &Lookup<'_>,
    ) -> Result<Auth> {
        let quota_header = quota_project
            .map(|p| {
                HeaderValue::from_str(p).map_err(|_| {
                    Error::config(format!(
                        "quota project `{}` cannot be sent as a header",
                        p.escape_default()
                    ))
                })
            })
            .transpose()?;
        // google-cloud-auth starts its token refresher as a Tokio task: refuse rather than
        // let it panic.
        let needs_runtime = !matches!(
            source,
            CredentialSource::Anonymous | CredentialSource::Provided(_)
        );
        if needs_runtime && tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "credentials other than anonymous or provided ones must be built inside a Tokio runtime",
            ));
        }
        let (credentials, source) = match source {
            CredentialSource::ApplicationDefault { scopes } => (
                application_default(scopes, quota_project)?,
                "application default credentials".to_owned(),
            ),
            CredentialSource::Provided(c) => (c, "provided".to_owned()),
            CredentialSource::Anonymous => {
                return Ok(Auth {
                    quota_project: quota_header,
                    ..Auth::anonymous()
                });
            }
            CredentialSource::EarthEngineFile { path, scopes } => (
                earthengine_file(&path, scopes, quota_project, lookup)?,
                format!("Earth Engine credentials file {}", path.display()),
            ),
            CredentialSource::Discover { scopes } => match discover(lookup) {
                Found::ApplicationDefault(from) => (
                    application_default(scopes, quota_project)?,
                    format!("application default credentials ({from})"),
                ),
                Found::EarthEngine(path) => (
                    earthengine_file(&path, scopes, quota_project, lookup)?,
                    format!("Earth Engine credentials file {}", path.display()),
                ),
                Found::MetadataServer(why) => (
                    application_default(scopes, quota_project)?,
                    format!("the metadata server ({why})"),
                ),
                Found::Nothing(message) => return Err(Error::no_credentials(message)),
            },
        };
        Ok(Auth {
            credentials,
            source,
            anonymous: false,
            quota_project: quota_header,
        })
    }

    /// Anonymous credentials without a quota project.
    pub fn anonymous() -> Auth {
        Auth {
            credentials: credentials::anonymous::Builder::new().build(),
            source: "anonymous".to_owned(),
            anonymous: true,
            quota_project: None,
        }
    }

    /// The headers one request needs: the credentials' own (e.g. `authorization`) and
    /// `x-goog-user-project` when a quota project is set (it wins over one the credentials
    /// chose).
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut headers = match self.credentials.headers(http::Extensions::new()).await {
            Ok(CacheableResource::New { data, .. }) => data,
            // Only answered when the caller passes an entity tag, which we never do.
            Ok(CacheableResource::NotModified) => HeaderMap::new(),
            Err(e) => {
                return Err(Error::auth(
                    format!("cannot obtain a token from the {}", self.source),
                    TokenError::from(&e),
                ));
            }
        };
        if let Some(q) = &self.quota_project {
            headers.insert(QUOTA_PROJECT_HEADER, q.clone());
        }
        Ok(headers)
    }

    /// Whether the credentials are anonymous.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// Which credentials these are, e.g. `anonymous`, `provided`, `application default
    /// credentials (/home/me/.config/gcloud/application_default_credentials.json)` or `Earth
    /// Engine credentials file /home/me/.config/earthengine/credentials`. Never a secret.
    pub fn description(&self) -> &str {
        &self.source
    }
}

/// google-cloud-auth's failure to get a token, its own wrappers folded away (they repeat each
/// other: "... but future attempts may succeed: ... but future attempts may succeed"): the
/// HTTP failure underneath (say, the connection to the token endpoint) when there is one,
/// after google-cloud-auth's innermost message of its own when that holds the answer's
/// body, else that message alone.
#[derive(Debug)]
struct TokenError(String);

impl From<&google_cloud_auth::errors::CredentialsError> for TokenError {
    fn from(e: &google_cloud_auth::errors::CredentialsError) -> Self {
        use std::error::Error as _;
        type Own = google_cloud_auth::errors::CredentialsError;
        let mut innermost_own = e.to_string();
        let mut next = e.source();
        while let Some(cause) = next {
            if let Some(own) = cause.downcast_ref::<Own>() {
                innermost_own = own.to_string();
            } else if let Some(http) = cause.downcast_ref::<reqwest::Error>() {
                // The HTTP failure and its own causes, each text once; after an answer, the
                // message that holds its body first.
                let mut parts: Vec<String> = Vec::new();
                if http.is_status() {
                    parts.push(innermost_own);
                }
                let mut next = Some(cause);
                while let Some(c) = next {
                    let text = c.to_string();
                    if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
                        parts.push(text);
                    }
                    next = c.source();
                }
                return TokenError(parts.join(": "));
            }
            next = cause.source();
        }
        TokenError(innermost_own)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

fn application_default(scopes: Vec<String>, quota_project: Option<&str>) -> Result<Credentials> {
    let mut builder = credentials::Builder::default().with_scopes(scopes);
    if let Some(q) = quota_project {
        builder = builder.with_quota_project_id(q);
    }
    builder
        .build()
        .map_err(|e| Error::auth("cannot load application default credentials", e))
}

/// Reads an Earth Engine credentials file into google-cloud-auth's authorized-user
/// credentials. Its `project` is the quota project unless the caller set one (the Earth
/// Engine tools send it so).
fn earthengine_file(
    path: &Path,
    scopes: Vec<String>,
    quota_project: Option<&str>,
    lookup: &Lookup<'_>,
) -> Result<Credentials> {
    let shown = path.display();
    let text = (lookup.read)(path).map_err(|e| {
        Error::auth(
            format!("cannot read the Earth Engine credentials file {shown}"),
            e,
        )
    })?;
    let file: Json = serde_json::from_str(&text).map_err(|e| {
        Error::auth(
            format!("the Earth Engine credentials file {shown} is not JSON; run `earthengine authenticate` again"),
            e,
        )
    })?;
    let field = |name: &str| {
        file.get(name)
            .and_then(Json::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let Some(refresh_token) = field("refresh_token") else {
        return Err(Error::no_credentials(format!(
            "the Earth Engine credentials file {shown} has no refresh_token; run `earthengine authenticate` again"
        )));
    };
    let (Some(client_id), Some(client_secret)) = (field("client_id"), field("client_secret"))
    else {
        // Files from old earthengine-api releases rely on that library's own built-in client.
        return Err(Error::no_credentials(format!(
            "the Earth Engine credentials file {shown} has no client_id and client_secret (an older format); run `earthengine authenticate` again, or `gcloud auth application-default login`"
        )));
    };
    let mut user = serde_json::json!({
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    });
    // Not written by the Earth Engine tools, but honoured when present (e.g. a test's token
    // endpoint on loopback).
    if let Some(uri) = field("token_uri") {
        user["token_uri"] = uri.into();
    }
    let mut builder = credentials::user_account::Builder::new(user).with_scopes(scopes);
    if let Some(q) = quota_project.or(field("project")) {
        builder = builder.with_quota_project_id(q);
    }
    builder.build().map_err(|e| {
        Error::auth(
            format!("cannot use the Earth Engine credentials file {shown}"),
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn anonymous_sends_only_the_quota_project() {
        let auth = Auth::new(CredentialSource::Anonymous, Some("q")).unwrap();
        // Debug shows the source and the quota project, never the credentials.
        assert_eq!(
            format!("{auth:?}"),
            r#"Auth { source: "anonymous", quota_project: Some("q") }"#
        );
        let h = auth.headers().await.unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(QUOTA_PROJECT_HEADER).unwrap(), "q");
        assert!(Auth::anonymous().headers().await.unwrap().is_empty());
    }

    /// A fake home directory and environment for the search.
    struct Fake {
        vars: Vec<(&'static str, String)>,
        files: Vec<(PathBuf, String)>,
    }

    impl Fake {
        fn home() -> Fake {
            Fake {
                vars: vec![("HOME", "/home/u".into())],
                files: vec![],
            }
        }

        fn file(mut self, path: &str, text: &str) -> Fake {
            self.files.push((PathBuf::from(path), text.to_owned()));
            self
        }

        fn var(mut self, key: &'static str, value: &str) -> Fake {
            self.vars.push((key, value.to_owned()));
            self
        }

        fn with<T>(&self, f: impl FnOnce(&Lookup<'_>) -> T) -> T {
            let var = |k: &str| {
                self.vars
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.clone())
            };
            let read = |p: &Path| {
                self.files
                    .iter()
                    .find(|(path, _)| path == p)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            };
            f(&Lookup {
                var: &var,
                read: &read,
            })
        }
    }

    const EE_FILE: &str = "/home/u/.config/earthengine/credentials";
    const EE_JSON: &str = r#"{"refresh_token":"r","client_id":"c","client_secret":"s","project":"ee-proj","scopes":["x"]}"#;

    #[tokio::test]
    async fn nothing_found_is_one_short_message() {
        let found = Fake::home().with(discover);
        let Found::Nothing(message) = found else {
            panic!("{found:?}")
        };
        assert!(
            message.contains("GOOGLE_APPLICATION_CREDENTIALS (not set)"),
            "{message}"
        );
        assert!(
            message.contains(
                "/home/u/.config/gcloud/application_default_credentials.json (not there)"
            ),
            "{message}"
        );
        assert!(message.contains(EE_FILE), "{message}");
        assert!(
            message.contains("metadata server (not on Google Cloud)"),
            "{message}"
        );
        assert!(
            message.contains("gcloud auth application-default login"),
            "{message}"
        );
        assert!(message.contains("earthengine authenticate"), "{message}");
        assert_eq!(message.lines().count(), 1);
        let err = Fake::home()
            .with(|l| Auth::with_lookup(CredentialSource::discover(), None, l))
            .unwrap_err();
        assert!(err.is_auth());
        assert_eq!(err.to_string(), format!("authentication error: {message}"));
    }

    #[tokio::test]
    async fn search_order() {
        // The Earth Engine file alone.
        let fake = Fake::home().file(EE_FILE, EE_JSON);
        assert!(matches!(fake.with(discover), Found::EarthEngine(p) if p == Path::new(EE_FILE)));
        let auth = fake
            .with(|l| Auth::with_lookup(CredentialSource::discover(), None, l))
            .unwrap();
        assert_eq!(
            auth.description(),
            format!("Earth Engine credentials file {EE_FILE}")
        );
        assert!(!auth.is_anonymous());
        // gcloud's file comes first.
        let fake = fake.file(
            "/home/u/.config/gcloud/application_default_credentials.json",
            "{}",
        );
        assert!(
            matches!(fake.with(discover), Found::ApplicationDefault(p) if p.ends_with("application_default_credentials.json"))
        );
        // The variable comes before both.
        let fake = fake.var("GOOGLE_APPLICATION_CREDENTIALS", "/k.json");
        assert!(
            matches!(fake.with(discover), Found::ApplicationDefault(p) if p == "GOOGLE_APPLICATION_CREDENTIALS=/k.json")
        );
        // The metadata server comes last.
        let gce = Fake::home().file("/sys/class/dmi/id/product_name", "Google Compute Engine\n");
        assert!(matches!(gce.with(discover), Found::MetadataServer(_)));
        let gce = gce.file(EE_FILE, EE_JSON);
        assert!(matches!(gce.with(discover), Found::EarthEngine(_)));
    }

    #[tokio::test]
    async fn bad_earth_engine_files_name_the_file() {
        for (text, expected) in [
            ("not json", "is not JSON"),
            (r#"{"refresh_token":"r"}"#, "no client_id and client_secret"),
            (
                r#"{"client_id":"c","client_secret":"s"}"#,
                "no refresh_token",
            ),
        ] {
            let err = Fake::home()
                .file(EE_FILE, text)
                .with(|l| Auth::with_lookup(CredentialSource::discover(), None, l))
                .unwrap_err();
            assert!(err.is_auth());
            let msg = err.to_string();
            assert!(msg.contains(EE_FILE) && msg.contains(expected), "{msg}");
            assert!(msg.contains("earthengine authenticate"), "{msg}");
        }
    }

    #[test]
    fn projects_from_files() {
        let fake = Fake::home().file(EE_FILE, EE_JSON);
        assert_eq!(fake.with(|l| l.file_project()).as_deref(), Some("ee-proj"));
        let gcloud = Fake::home().file(
            "/home/u/.config/gcloud/configurations/config_default",
            "[auth]\nproject = no\n[core]\naccount = a@b\nproject = gc-proj\n",
        );
        assert_eq!(
            gcloud.with(|l| l.file_project()).as_deref(),
            Some("gc-proj")
        );
        let other = Fake::home()
            .file("/home/u/.config/gcloud/active_config", "work\n")
            .file(
                "/home/u/.config/gcloud/configurations/config_work",
                "[core]\nproject=w\n",
            );
        assert_eq!(other.with(|l| l.file_project()).as_deref(), Some("w"));
        let env = other.var("CLOUDSDK_CORE_PROJECT", "from-env");
        assert_eq!(env.with(|l| l.file_project()).as_deref(), Some("from-env"));
        assert_eq!(Fake::home().with(|l| l.file_project()), None);
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let err = Auth::new(CredentialSource::discover(), None).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }

    #[test]
    fn bad_quota_project_is_a_config_error() {
        let err = Auth::new(CredentialSource::Anonymous, Some("a\nb")).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }
}
