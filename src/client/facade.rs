//! [`Client`]: the calls, with names validated, retries, pages followed, and bulk cancels.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use tokio::time::Instant;

use super::retry::Retrier;
use super::{BulkOptions, ClientBuilder, ListOptions, rest};
use crate::name::{EXPECTED_FORM, OperationName};
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation,
};
use crate::stub::{OperationsMethod, dynamic};
use crate::{Error, Result};

pub(super) const WAIT_UNKNOWN: u8 = 0;
pub(super) const WAIT_SUPPORTED: u8 = 1;
pub(super) const WAIT_UNSUPPORTED: u8 = 2;

/// A client of the `google.longrunning.Operations` API as Earth Engine exposes it.
///
/// Cheap to clone (one `Arc`). Names are validated before anything is sent: a name that is
/// not `projects/{project}/operations/{operation}` (or a bare task id with a default
/// project) gives an [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) error
/// that names the expected form. See the [module documentation](super) for examples.
#[derive(Clone)]
pub struct Client {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) stub: Arc<dyn dynamic::Operations>,
    pub(super) retrier: Retrier,
    pub(super) generic_names: bool,
    pub(super) project: Option<String>,
    pub(super) wait_support: AtomicU8,
    pub(super) description: String,
    pub(super) credentials: String,
    /// The REST transport when the client was built with it (for `/batch` in bulk calls).
    pub(super) rest: Option<rest::RestTransport>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.inner.description)
            .field("credentials", &self.inner.credentials)
            .field("project", &self.inner.project)
            .field("retry", &self.inner.retrier.policy)
            .field("supports_wait", &self.supports_wait())
            .finish()
    }
}

/// A boxed stream, as [`Client::list`] and [`Client::watch`] return.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

impl Client {
    /// A [`ClientBuilder`] with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment (see [`ClientBuilder::from_env_with`]).
    pub async fn from_env() -> Result<Client> {
        ClientBuilder::from_env().build().await
    }

    /// A client over your own implementation of [`crate::stub::Operations`], with the default
    /// retry policy: for testing code that uses a `Client` without a server.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use eeops::pb::google::longrunning::{GetOperationRequest, Operation};
    /// use eeops::stub::{CallOptions, Operations};
    ///
    /// #[derive(Debug)]
    /// struct AlwaysDone;
    /// impl Operations for AlwaysDone {
    ///     async fn get_operation(&self, r: GetOperationRequest, _: CallOptions) -> eeops::Result<Operation> {
    ///         Ok(Operation { name: r.name, done: true, ..Default::default() })
    ///     }
    /// }
    ///
    /// let client = eeops::Client::from_stub(AlwaysDone);
    /// let op = client.get("projects/p/operations/A").await.unwrap();
    /// assert!(op.done);
    /// // Waiting falls back to polling GetOperation: the stub has no WaitOperation.
    /// let op = client.wait("projects/p/operations/A", std::time::Duration::from_secs(1)).await.unwrap();
    /// assert!(op.done);
    /// // Bad names never reach the stub.
    /// let err = client.get("operations/A").await.unwrap_err();
    /// assert!(err.is_invalid_request());
    /// assert!(err.message().contains("projects/{project}/operations/{operation}"));
    /// # }
    /// ```
    pub fn from_stub(stub: impl crate::stub::Operations) -> Client {
        ClientBuilder::new().build_with_stub(stub)
    }

    /// The transport (or stub) under this client, e.g. to wrap it in a stub of your own.
    pub fn stub(&self) -> Arc<dyn dynamic::Operations> {
        Arc::clone(&self.inner.stub)
    }

    /// Which credentials this client sends, e.g. `anonymous`, `application default
    /// credentials (...)` or `Earth Engine credentials file /home/me/.config/earthengine/credentials`
    /// (see [`auth`](super::auth)). Never a secret.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eeops::Result<()> {
    /// let client = eeops::Client::builder().endpoint("127.0.0.1:8080").build().await?;
    /// assert_eq!(client.credentials_source(), "anonymous");
    /// # Ok(()) }
    /// ```
    pub fn credentials_source(&self) -> &str {
        &self.inner.credentials
    }

    /// The default project, if any.
    pub fn project(&self) -> Option<&str> {
        self.inner.project.as_deref()
    }

    /// Whether the server answered WaitOperation (`Some(true)`), answered it UNIMPLEMENTED
    /// (`Some(false)`: this client polls from then on), or has not been asked (`None`).
    pub fn supports_wait(&self) -> Option<bool> {
        match self.inner.wait_support.load(Ordering::Relaxed) {
            WAIT_SUPPORTED => Some(true),
            WAIT_UNSUPPORTED => Some(false),
            _ => None,
        }
    }

    /// Validates an operation name (or resolves a bare task id with the default project).
    pub fn operation_name(&self, name: &str) -> Result<String> {
        if self.inner.generic_names {
            if name.trim().is_empty() {
                return Err(Error::invalid_request("the operation name is empty"));
            }
            return Ok(name.to_owned());
        }
        OperationName::resolve(name, self.inner.project.as_deref())
            .map(OperationName::into_string)
            .map_err(|e| Error::invalid_request(e.to_string()))
    }

    /// Validates a collection (`projects/{project}`, `projects/{project}/operations`, a bare
    /// project id, or `""` for the default project).
    fn collection_name(&self, collection: &str) -> Result<String> {
        if self.inner.generic_names {
            return Ok(collection.to_owned());
        }
        // `projects/p/operations` names the same collection.
        let collection = collection.strip_suffix("/operations").unwrap_or(collection);
        let project = match collection.strip_prefix("projects/") {
            Some(p) => p,
            None if collection.is_empty() => self.inner.project.as_deref().unwrap_or_default(),
            None => collection,
        };
        if project.is_empty() || project.contains('/') || project == "." || project == ".." {
            return Err(Error::invalid_request(format!(
                "invalid collection `{collection}`: expected projects/{{project}} (the parent of {EXPECTED_FORM})"
            )));
        }
        Ok(format!("projects/{project}"))
    }

    /// Reads an operation.
    pub async fn get(&self, name: impl AsRef<str>) -> Result<Operation> {
        let name = self.operation_name(name.as_ref())?;
        self.get_checked(&name, None).await
    }

    pub(super) async fn get_checked(
        &self,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Operation> {
        let stub = &*self.inner.stub;
        let request = GetOperationRequest { name: name.into() };
        self.inner
            .retrier
            .run(OperationsMethod::GetOperation, deadline, |opts, _| {
                stub.get_operation(request.clone(), opts)
            })
            .await
    }

    /// Asks that an operation stop. Best effort and asynchronous: success means the request
    /// was accepted, not that the operation stopped (see [`cancel_and_confirm`](Self::cancel_and_confirm)).
    /// A server without cancel support answers UNIMPLEMENTED ([`Error::is_unimplemented`]).
    /// Cancelling an operation that is finished or already cancelled does nothing.
    pub async fn cancel(&self, name: impl AsRef<str>) -> Result<()> {
        let name = self.operation_name(name.as_ref())?;
        self.cancel_checked(&name).await
    }

    pub(super) async fn cancel_checked(&self, name: &str) -> Result<()> {
        let stub = &*self.inner.stub;
        let request = CancelOperationRequest { name: name.into() };
        self.inner
            .retrier
            .run(OperationsMethod::CancelOperation, None, |opts, _| {
                stub.cancel_operation(request.clone(), opts)
            })
            .await
    }

    /// Forgets an operation (it does not stop it). When an attempt fails in a way that is
    /// retried and a later attempt answers NOT_FOUND, the delete counts as done (the lost
    /// attempt most likely deleted it); NOT_FOUND on the first attempt is an error.
    pub async fn delete(&self, name: impl AsRef<str>) -> Result<()> {
        let name = self.operation_name(name.as_ref())?;
        let stub = &*self.inner.stub;
        let request = DeleteOperationRequest { name };
        self.inner
            .retrier
            .run(OperationsMethod::DeleteOperation, None, |opts, attempt| {
                let call = stub.delete_operation(request.clone(), opts);
                async move {
                    match call.await {
                        Err(e) if attempt > 1 && e.is_not_found() => Ok(()),
                        other => other,
                    }
                }
            })
            .await
    }

    /// Every operation in a collection (`projects/{project}`), following page tokens to the
    /// end. An invalid collection is the stream's first and only item.
    pub fn list(&self, collection: impl AsRef<str>) -> BoxStream<Result<Operation>> {
        self.list_with(collection, ListOptions::default())
    }

    /// [`list`](Self::list) with a filter and a page size.
    pub fn list_with(
        &self,
        collection: impl AsRef<str>,
        options: ListOptions,
    ) -> BoxStream<Result<Operation>> {
        self.list_pages(collection, options)
            .map_ok(|page| stream::iter(page.operations.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// The pages of a listing, as the server sends them (with `unreachable` locations).
    /// Stops with an error if the server hands back the page token it was just given.
    pub fn list_pages(
        &self,
        collection: impl AsRef<str>,
        options: ListOptions,
    ) -> BoxStream<Result<ListOperationsResponse>> {
        let collection = match self.collection_name(collection.as_ref()) {
            Ok(c) => c,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let client = self.clone();
        let request = ListOperationsRequest {
            name: collection,
            filter: options.filter.unwrap_or_default(),
            page_size: options.page_size.unwrap_or(0),
            page_token: String::new(),
            return_partial_success: options.return_partial_success,
        };
        stream::try_unfold(Some(request), move |state| {
            let client = client.clone();
            async move {
                let Some(request) = state else {
                    return Ok(None);
                };
                let stub = &*client.inner.stub;
                let page = client
                    .inner
                    .retrier
                    .run(OperationsMethod::ListOperations, None, |opts, _| {
                        stub.list_operations(request.clone(), opts)
                    })
                    .await?;
                let next = if page.next_page_token.is_empty() {
                    None
                } else if page.next_page_token == request.page_token {
                    return Err(Error::decode(format!(
                        "the server sent the same page token twice while listing {}; stopping",
                        request.name
                    )));
                } else {
                    Some(ListOperationsRequest {
                        page_token: page.next_page_token.clone(),
                        ..request
                    })
                };
                Ok(Some((page, next)))
            }
        })
        .boxed()
    }
    /// Cancels many operations, at most `concurrency` at a time, and reports each: one entry
    /// per input name, in input order, none lost. Each name is validated on its own (a bad
    /// one fails alone, without a request). The concurrency adapts to the server below that
    /// cap, and calls refused for quota are retried (see [`bulk`](super::bulk)).
    pub async fn cancel_many<I, S>(&self, names: I, concurrency: usize) -> Vec<(String, Result<()>)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut done: Vec<(usize, String, Result<()>)> =
            self.cancel_each(names, concurrency).collect().await;
        done.sort_unstable_by_key(|(index, _, _)| *index);
        done.into_iter()
            .map(|(_, name, result)| (name, result))
            .collect()
    }

    /// Cancels many operations, at most `concurrency` at a time, yielding each outcome as soon
    /// as it is known (so a caller can show progress): the name's index in the input, the name,
    /// and the result. Every name yields exactly once.
    ///
    /// A slow call does not hold back the others: as soon as one finishes, the next starts,
    /// which is why the outcomes come in completion order rather than input order (see
    /// [`cancel_many`](Self::cancel_many) for input order). This is
    /// [`cancel_each_with`](Self::cancel_each_with) with `concurrency` as the cap (and the
    /// start), the other [`BulkOptions`] at their defaults.
    pub fn cancel_each<I, S>(
        &self,
        names: I,
        concurrency: usize,
    ) -> BoxStream<(usize, String, Result<()>)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let options = BulkOptions::default()
            .with_max_concurrency(concurrency)
            .with_initial_concurrency(concurrency);
        self.cancel_each_with(names, options).boxed()
    }
}
