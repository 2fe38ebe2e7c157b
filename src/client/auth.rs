//! Credentials, through google-cloud-auth.
//!
//! A client takes its credentials from one of:
//!
//! * **application default credentials** (the default for non-loopback endpoints), with the
//!   Earth Engine scope [`EARTHENGINE_SCOPE`] unless other scopes are chosen (e.g.
//!   [`CLOUD_PLATFORM_SCOPE`]);
//! * **credentials you supply**, any [`google_cloud_auth::credentials::Credentials`];
//! * **anonymous credentials** (no headers at all): the default for loopback endpoints and
//!   the emulator.
//!
//! A quota project, when set, is sent as `x-goog-user-project` on every request, whatever the
//! credentials. Both transports take their headers from the same [`Auth`].
//!
//! Tokens never appear in `Debug` output, errors or logs: [`Auth`]'s `Debug` names the
//! source only, and a failure to obtain credentials becomes an [`ErrorKind::Auth`] error
//! that carries the credential library's own message, which does not include tokens.
//!
//! [`ErrorKind::Auth`]: crate::ErrorKind::Auth

use std::fmt;

use google_cloud_auth::credentials::{self, CacheableResource, Credentials};
use http::{HeaderMap, HeaderValue};

use crate::{Error, Result};

/// The OAuth scope of the Earth Engine API (the default).
pub const EARTHENGINE_SCOPE: &str = "https://www.googleapis.com/auth/earthengine";

/// The OAuth scope of all Google Cloud APIs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The header that names the project billed for quota.
pub const QUOTA_PROJECT_HEADER: &str = "x-goog-user-project";

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
    /// Application default credentials with these scopes.
    ApplicationDefault {
        /// The OAuth scopes to ask for.
        scopes: Vec<String>,
    },
    /// Credentials the caller built.
    Provided(Credentials),
    /// No credentials: no authorization header is sent.
    Anonymous,
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
        }
    }
}

/// Ready-to-use credentials plus the quota project: what both transports ask for headers.
#[derive(Clone)]
pub struct Auth {
    credentials: Credentials,
    source: &'static str,
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
    /// Builds credentials from a source. Application default credentials are looked up now
    /// (a missing or malformed credentials file is reported here); tokens are fetched on the
    /// first request and cached by google-cloud-auth.
    ///
    /// ```
    /// use eeops::client::auth::{Auth, CredentialSource};
    ///
    /// let auth = Auth::new(CredentialSource::Anonymous, Some("my-project"))?;
    /// assert_eq!(format!("{auth:?}"), r#"Auth { source: "anonymous", quota_project: Some("my-project") }"#);
    /// # Ok::<(), eeops::Error>(())
    /// ```
    pub fn new(source: CredentialSource, quota_project: Option<&str>) -> Result<Auth> {
        let quota_project = quota_project
            .map(|p| {
                HeaderValue::from_str(p).map_err(|_| {
                    Error::config(format!(
                        "quota project `{}` cannot be sent as a header",
                        p.escape_default()
                    ))
                })
            })
            .transpose()?;
        let (credentials, source) = match source {
            CredentialSource::ApplicationDefault { scopes } => {
                let mut builder = credentials::Builder::default().with_scopes(scopes);
                if let Some(q) = &quota_project
                    && let Ok(q) = q.to_str()
                {
                    builder = builder.with_quota_project_id(q);
                }
                let creds = builder
                    .build()
                    .map_err(|e| Error::auth("cannot load application default credentials", e))?;
                (creds, "application-default")
            }
            CredentialSource::Provided(c) => (c, "provided"),
            CredentialSource::Anonymous => {
                (credentials::anonymous::Builder::new().build(), "anonymous")
            }
        };
        Ok(Auth {
            credentials,
            source,
            quota_project,
        })
    }

    /// Anonymous credentials without a quota project.
    pub fn anonymous() -> Auth {
        Auth {
            credentials: credentials::anonymous::Builder::new().build(),
            source: "anonymous",
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
            Err(e) => return Err(Error::auth("cannot obtain credentials", e)),
        };
        if let Some(q) = &self.quota_project {
            headers.insert(QUOTA_PROJECT_HEADER, q.clone());
        }
        Ok(headers)
    }

    /// Whether the credentials are anonymous.
    pub fn is_anonymous(&self) -> bool {
        self.source == "anonymous"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn anonymous_sends_only_the_quota_project() {
        let auth = Auth::new(CredentialSource::Anonymous, Some("q")).unwrap();
        let h = auth.headers().await.unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h.get(QUOTA_PROJECT_HEADER).unwrap(), "q");
        assert!(Auth::anonymous().headers().await.unwrap().is_empty());
    }

    #[test]
    fn bad_quota_project_is_a_config_error() {
        let err = Auth::new(CredentialSource::Anonymous, Some("a\nb")).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
    }
}
