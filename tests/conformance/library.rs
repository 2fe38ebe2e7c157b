//! The Library: Google's Library example API as `examples/library` serves it (the Library's
//! generated `LibraryServiceRest` on eeops' server, gRPC and REST on one port). The scenarios
//! see the service through [`LibraryApi`], the shape of the transport-agnostic trait that
//! eeops' generator produces (one async method per RPC, typed messages, `eeops::Error`). Five
//! adapters run them:
//!
//! * `generated_rest`, `generated_grpc`: the generated trait itself, as
//!   `Arc<dyn dynamic::LibraryService>` on eeops' REST and gRPC transports;
//! * `rest`, `dynamic_grpc`: the example's `call` path (dynamic messages, the way
//!   `cargo run --example library -- call` reads them from JSON, turned into the typed request
//!   by one match over the generated method enum) on the same two transports;
//! * `typed_grpc`: the tonic client generated for the Library.
//!
//! Assertions accept a name refused on the client side (REST refuses it before sending) as well
//! as by the server (`INVALID_ARGUMENT`). Below the runs: the example's `call` and `serve`
//! beyond the scenarios.

#[path = "../../examples/library/mod.rs"]
mod example;

use std::collections::BTreeSet;
use std::sync::Arc;

use eeops::Error;
use eeops::pb::google::rpc::Code;
use eeops::server::ServerConfig;
use eeops::stub::CallOptions;
use prost_reflect::ReflectMessage;

use super::{Reached, assert_code, assert_invalid, grpc_transport, rest_transport};
use example::call::{Transport, invoke, method};
use example::pb::v1::library_service_client::LibraryServiceClient;
use example::pb::v1::library_service_stub::{LibraryServiceMethod, dynamic};
use example::pb::v1::*;
use example::serve::Served;
use example::store::Library;

/// The Library's RPCs as the scenarios call them.
trait LibraryApi: Sync {
    /// Whether an unset request message stays unset on the wire. Over REST a `body: "field"`
    /// message the request leaves unset goes out as `{}` (Google's clients do the same), so the
    /// server sees it set and empty.
    fn keeps_message_presence(&self) -> bool {
        true
    }

    async fn create_shelf(&self, req: CreateShelfRequest) -> Result<Shelf, Error>;
    async fn get_shelf(&self, req: GetShelfRequest) -> Result<Shelf, Error>;
    async fn list_shelves(&self, req: ListShelvesRequest) -> Result<ListShelvesResponse, Error>;
    async fn delete_shelf(&self, req: DeleteShelfRequest) -> Result<(), Error>;
    async fn merge_shelves(&self, req: MergeShelvesRequest) -> Result<Shelf, Error>;
    async fn create_book(&self, req: CreateBookRequest) -> Result<Book, Error>;
    async fn get_book(&self, req: GetBookRequest) -> Result<Book, Error>;
    async fn list_books(&self, req: ListBooksRequest) -> Result<ListBooksResponse, Error>;
    async fn delete_book(&self, req: DeleteBookRequest) -> Result<(), Error>;
    async fn update_book(&self, req: UpdateBookRequest) -> Result<Book, Error>;
    async fn move_book(&self, req: MoveBookRequest) -> Result<Book, Error>;
}

// ------------------------------------------------------------------------------------------
// Adapters
// ------------------------------------------------------------------------------------------

/// The generated tonic client.
struct TypedGrpc(LibraryServiceClient<tonic::transport::Channel>);

impl TypedGrpc {
    async fn connect(url: &str) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        TypedGrpc(LibraryServiceClient::new(channel))
    }
}

macro_rules! typed {
    ($self:ident, $m:ident, $req:ident) => {
        $self
            .0
            .clone()
            .$m($req)
            .await
            .map(tonic::Response::into_inner)
            .map_err(Error::from)
    };
}

impl LibraryApi for TypedGrpc {
    async fn create_shelf(&self, req: CreateShelfRequest) -> Result<Shelf, Error> {
        typed!(self, create_shelf, req)
    }
    async fn get_shelf(&self, req: GetShelfRequest) -> Result<Shelf, Error> {
        typed!(self, get_shelf, req)
    }
    async fn list_shelves(&self, req: ListShelvesRequest) -> Result<ListShelvesResponse, Error> {
        typed!(self, list_shelves, req)
    }
    async fn delete_shelf(&self, req: DeleteShelfRequest) -> Result<(), Error> {
        typed!(self, delete_shelf, req)
    }
    async fn merge_shelves(&self, req: MergeShelvesRequest) -> Result<Shelf, Error> {
        typed!(self, merge_shelves, req)
    }
    async fn create_book(&self, req: CreateBookRequest) -> Result<Book, Error> {
        typed!(self, create_book, req)
    }
    async fn get_book(&self, req: GetBookRequest) -> Result<Book, Error> {
        typed!(self, get_book, req)
    }
    async fn list_books(&self, req: ListBooksRequest) -> Result<ListBooksResponse, Error> {
        typed!(self, list_books, req)
    }
    async fn delete_book(&self, req: DeleteBookRequest) -> Result<(), Error> {
        typed!(self, delete_book, req)
    }
    async fn update_book(&self, req: UpdateBookRequest) -> Result<Book, Error> {
        typed!(self, update_book, req)
    }
    async fn move_book(&self, req: MoveBookRequest) -> Result<Book, Error> {
        typed!(self, move_book, req)
    }
}

/// The example's `call` path: dynamic messages (as `call` reads them from JSON), turned into
/// the typed request by `call::invoke` and sent through the generated trait on the transport
/// given.
struct Dynamic {
    stub: Arc<dyn dynamic::LibraryService>,
    transport: Transport,
}

impl Dynamic {
    async fn connect(url: &str, transport: Transport) -> Self {
        Dynamic {
            stub: example::call::connect(url, transport).await.unwrap(),
            transport,
        }
    }

    async fn invoke<Req, Resp>(&self, name: &str, req: Req) -> Result<Resp, Error>
    where
        Req: ReflectMessage,
        Resp: prost::Message + Default,
    {
        let (method, _) = method(name)?;
        let dynamic = req.transcode_to_dynamic();
        let response = invoke(&*self.stub, method, &dynamic).await?;
        response
            .transcode_to::<Resp>()
            .map_err(|e| Error::decode(format!("{name}: {e}")))
    }
}

impl LibraryApi for Dynamic {
    fn keeps_message_presence(&self) -> bool {
        self.transport == Transport::Grpc
    }

    async fn create_shelf(&self, req: CreateShelfRequest) -> Result<Shelf, Error> {
        self.invoke("CreateShelf", req).await
    }
    async fn get_shelf(&self, req: GetShelfRequest) -> Result<Shelf, Error> {
        self.invoke("GetShelf", req).await
    }
    async fn list_shelves(&self, req: ListShelvesRequest) -> Result<ListShelvesResponse, Error> {
        self.invoke("ListShelves", req).await
    }
    async fn delete_shelf(&self, req: DeleteShelfRequest) -> Result<(), Error> {
        self.invoke("DeleteShelf", req).await
    }
    async fn merge_shelves(&self, req: MergeShelvesRequest) -> Result<Shelf, Error> {
        self.invoke("MergeShelves", req).await
    }
    async fn create_book(&self, req: CreateBookRequest) -> Result<Book, Error> {
        self.invoke("CreateBook", req).await
    }
    async fn get_book(&self, req: GetBookRequest) -> Result<Book, Error> {
        self.invoke("GetBook", req).await
    }
    async fn list_books(&self, req: ListBooksRequest) -> Result<ListBooksResponse, Error> {
        self.invoke("ListBooks", req).await
    }
    async fn delete_book(&self, req: DeleteBookRequest) -> Result<(), Error> {
        self.invoke("DeleteBook", req).await
    }
    async fn update_book(&self, req: UpdateBookRequest) -> Result<Book, Error> {
        self.invoke("UpdateBook", req).await
    }
    async fn move_book(&self, req: MoveBookRequest) -> Result<Book, Error> {
        self.invoke("MoveBook", req).await
    }
}

/// The generated transport-agnostic trait, through its object-safe mirror, on one of eeops'
/// two transports (`ClientBuilder::build_rest_transport` / `build_grpc_transport`).
struct Generated {
    stub: Arc<dyn dynamic::LibraryService>,
    rest: bool,
}

impl Generated {
    async fn rest(url: &str) -> Self {
        Generated {
            stub: Arc::new(rest_transport(url).await),
            rest: true,
        }
    }

    async fn grpc(url: &str) -> Self {
        Generated {
            stub: Arc::new(grpc_transport(url).await),
            rest: false,
        }
    }
}

impl LibraryApi for Generated {
    fn keeps_message_presence(&self) -> bool {
        !self.rest
    }

    async fn create_shelf(&self, req: CreateShelfRequest) -> Result<Shelf, Error> {
        self.stub.create_shelf(req, CallOptions::default()).await
    }
    async fn get_shelf(&self, req: GetShelfRequest) -> Result<Shelf, Error> {
        self.stub.get_shelf(req, CallOptions::default()).await
    }
    async fn list_shelves(&self, req: ListShelvesRequest) -> Result<ListShelvesResponse, Error> {
        self.stub.list_shelves(req, CallOptions::default()).await
    }
    async fn delete_shelf(&self, req: DeleteShelfRequest) -> Result<(), Error> {
        self.stub.delete_shelf(req, CallOptions::default()).await
    }
    async fn merge_shelves(&self, req: MergeShelvesRequest) -> Result<Shelf, Error> {
        self.stub.merge_shelves(req, CallOptions::default()).await
    }
    async fn create_book(&self, req: CreateBookRequest) -> Result<Book, Error> {
        self.stub.create_book(req, CallOptions::default()).await
    }
    async fn get_book(&self, req: GetBookRequest) -> Result<Book, Error> {
        self.stub.get_book(req, CallOptions::default()).await
    }
    async fn list_books(&self, req: ListBooksRequest) -> Result<ListBooksResponse, Error> {
        self.stub.list_books(req, CallOptions::default()).await
    }
    async fn delete_book(&self, req: DeleteBookRequest) -> Result<(), Error> {
        self.stub.delete_book(req, CallOptions::default()).await
    }
    async fn update_book(&self, req: UpdateBookRequest) -> Result<Book, Error> {
        self.stub.update_book(req, CallOptions::default()).await
    }
    async fn move_book(&self, req: MoveBookRequest) -> Result<Book, Error> {
        self.stub.move_book(req, CallOptions::default()).await
    }
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

async fn shelf(c: &impl LibraryApi, theme: &str) -> Shelf {
    c.create_shelf(CreateShelfRequest {
        shelf: Some(Shelf {
            name: String::new(),
            theme: theme.into(),
        }),
    })
    .await
    .unwrap()
}

async fn book(c: &impl LibraryApi, parent: &str, title: &str) -> Book {
    c.create_book(CreateBookRequest {
        parent: parent.into(),
        book: Some(Book {
            title: title.into(),
            author: format!("author of {title}"),
            ..Default::default()
        }),
    })
    .await
    .unwrap()
}

fn get(name: &str) -> GetBookRequest {
    GetBookRequest { name: name.into() }
}

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

async fn shelves_create_get_list_delete(c: &impl LibraryApi) {
    let a = shelf(c, "poetry").await;
    assert!(a.name.starts_with("shelves/"), "{a:?}");
    assert_eq!(a.theme, "poetry");
    let b = shelf(c, "history").await;
    assert_ne!(a.name, b.name);

    let got = c
        .get_shelf(GetShelfRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(got, a);

    let listed = c.list_shelves(ListShelvesRequest::default()).await.unwrap();
    assert_eq!(listed.shelves, [a.clone(), b.clone()]);
    assert_eq!(listed.next_page_token, "");

    c.delete_shelf(DeleteShelfRequest {
        name: a.name.clone(),
    })
    .await
    .unwrap();
    assert_code(
        c.get_shelf(GetShelfRequest {
            name: a.name.clone(),
        })
        .await,
        Code::NotFound,
        &a.name,
    );
    assert_code(
        c.delete_shelf(DeleteShelfRequest {
            name: a.name.clone(),
        })
        .await,
        Code::NotFound,
        &a.name,
    );
    let listed = c.list_shelves(ListShelvesRequest::default()).await.unwrap();
    assert_eq!(listed.shelves, [b]);
}

async fn books_create_get_list_delete(c: &impl LibraryApi) {
    let s = shelf(c, "novels").await;
    let b1 = book(c, &s.name, "Middlemarch").await;
    assert!(b1.name.starts_with(&format!("{}/books/", s.name)), "{b1:?}");
    assert_eq!(
        (b1.title.as_str(), b1.author.as_str(), b1.read),
        ("Middlemarch", "author of Middlemarch", false)
    );
    let b2 = book(c, &s.name, "Persuasion").await;
    assert_eq!(c.get_book(get(&b1.name)).await.unwrap(), b1);

    let listed = c
        .list_books(ListBooksRequest {
            parent: s.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.books, [b1.clone(), b2.clone()]);

    c.delete_book(DeleteBookRequest {
        name: b1.name.clone(),
    })
    .await
    .unwrap();
    assert_code(c.get_book(get(&b1.name)).await, Code::NotFound, &b1.name);
    assert_code(
        c.delete_book(DeleteBookRequest {
            name: b1.name.clone(),
        })
        .await,
        Code::NotFound,
        &b1.name,
    );
    // Books of a missing shelf, and a book in a missing shelf.
    assert_code(
        c.create_book(CreateBookRequest {
            parent: "shelves/999".into(),
            book: Some(Book::default()),
        })
        .await,
        Code::NotFound,
        "shelves/999",
    );
    assert_code(
        c.list_books(ListBooksRequest {
            parent: "shelves/999".into(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
        "shelves/999",
    );
    // Deleting the shelf deletes its books.
    c.delete_shelf(DeleteShelfRequest {
        name: s.name.clone(),
    })
    .await
    .unwrap();
    assert_code(c.get_book(get(&b2.name)).await, Code::NotFound, &b2.name);
}

async fn list_shelves_pages(c: &impl LibraryApi) {
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(shelf(c, &format!("theme {i}")).await.name);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = c
            .list_shelves(ListShelvesRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.shelves.len() <= 2, "{page:?}");
        seen.extend(page.shelves.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    assert_invalid(
        c.list_shelves(ListShelvesRequest {
            page_size: 0,
            page_token: "not-a-token".into(),
        })
        .await,
        "page_token",
    );
    assert_invalid(
        c.list_shelves(ListShelvesRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await,
        "page_size",
    );
}

async fn list_books_pages(c: &impl LibraryApi) {
    let s = shelf(c, "pages").await;
    let other = shelf(c, "other pages").await;
    let mut created = BTreeSet::new();
    for i in 0..3 {
        created.insert(book(c, &s.name, &format!("volume {i}")).await.name);
    }
    let first = c
        .list_books(ListBooksRequest {
            parent: s.name.clone(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(first.books.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = c
        .list_books(ListBooksRequest {
            parent: s.name.clone(),
            page_size: 2,
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap();
    assert_eq!(second.books.len(), 1);
    assert_eq!(second.next_page_token, "");
    let seen: BTreeSet<String> = first
        .books
        .iter()
        .chain(&second.books)
        .map(|b| b.name.clone())
        .collect();
    assert_eq!(seen, created);
    // A token of one shelf's list is refused by another's.
    assert_invalid(
        c.list_books(ListBooksRequest {
            parent: other.name.clone(),
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await,
        "page_token",
    );
}

async fn merge_shelves(c: &impl LibraryApi) {
    let a = shelf(c, "merge into").await;
    let b = shelf(c, "merge from").await;
    book(c, &a.name, "kept").await;
    let moved = book(c, &b.name, "moved").await;

    let merged = c
        .merge_shelves(MergeShelvesRequest {
            name: a.name.clone(),
            other_shelf: b.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(merged, a);
    assert_code(
        c.get_shelf(GetShelfRequest {
            name: b.name.clone(),
        })
        .await,
        Code::NotFound,
        &b.name,
    );
    let books = c
        .list_books(ListBooksRequest {
            parent: a.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .books;
    let titles: Vec<&str> = books.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["kept", "moved"]);
    assert!(
        books.iter().all(|x| x.name.starts_with(&a.name)),
        "{books:?}"
    );
    assert_code(
        c.get_book(get(&moved.name)).await,
        Code::NotFound,
        &moved.name,
    );

    // The same shelf twice is a no-op; a missing one is NOT_FOUND.
    let same = c
        .merge_shelves(MergeShelvesRequest {
            name: a.name.clone(),
            other_shelf: a.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(same, a);
    assert_code(
        c.merge_shelves(MergeShelvesRequest {
            name: a.name.clone(),
            other_shelf: b.name.clone(),
        })
        .await,
        Code::NotFound,
        &b.name,
    );
}

async fn update_book_with_mask(c: &impl LibraryApi) {
    let s = shelf(c, "updates").await;
    let b = book(c, &s.name, "Draft").await;
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    };
    let change = Book {
        name: b.name.clone(),
        title: "Final".into(),
        author: "someone else".into(),
        read: true,
    };

    // Only the masked field changes.
    let updated = c
        .update_book(UpdateBookRequest {
            book: Some(change.clone()),
            update_mask: mask(&["title"]),
        })
        .await
        .unwrap();
    assert_eq!(
        updated,
        Book {
            title: "Final".into(),
            ..b.clone()
        }
    );
    assert_eq!(c.get_book(get(&b.name)).await.unwrap(), updated);

    // `*` replaces every field.
    let replaced = c
        .update_book(UpdateBookRequest {
            book: Some(Book {
                name: b.name.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["*"]),
        })
        .await
        .unwrap();
    assert_eq!(
        replaced,
        Book {
            name: b.name.clone(),
            ..Default::default()
        }
    );

    // No mask: the fields the request sets.
    let partial = c
        .update_book(UpdateBookRequest {
            book: Some(Book {
                name: b.name.clone(),
                read: true,
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();
    assert!(partial.read && partial.title.is_empty(), "{partial:?}");

    assert_invalid(
        c.update_book(UpdateBookRequest {
            book: Some(change.clone()),
            update_mask: mask(&["name"]),
        })
        .await,
        "`name`",
    );
    assert_invalid(
        c.update_book(UpdateBookRequest {
            book: Some(change.clone()),
            update_mask: mask(&["isbn"]),
        })
        .await,
        "`isbn`",
    );
    let missing = format!("{}/books/999", s.name);
    assert_code(
        c.update_book(UpdateBookRequest {
            book: Some(Book {
                name: missing.clone(),
                ..change
            }),
            update_mask: mask(&["title"]),
        })
        .await,
        Code::NotFound,
        &missing,
    );
}

async fn move_book(c: &impl LibraryApi) {
    let from = shelf(c, "move from").await;
    let to = shelf(c, "move to").await;
    let b = book(c, &from.name, "Traveller").await;
    let moved = c
        .move_book(MoveBookRequest {
            name: b.name.clone(),
            other_shelf_name: to.name.clone(),
        })
        .await
        .unwrap();
    assert!(
        moved.name.starts_with(&format!("{}/books/", to.name)),
        "{moved:?}"
    );
    assert_eq!(
        (moved.title.as_str(), moved.author.as_str()),
        ("Traveller", b.author.as_str())
    );
    assert_eq!(c.get_book(get(&moved.name)).await.unwrap(), moved);
    assert_code(c.get_book(get(&b.name)).await, Code::NotFound, &b.name);

    // To its own shelf: nothing changes.
    let stayed = c
        .move_book(MoveBookRequest {
            name: moved.name.clone(),
            other_shelf_name: to.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(stayed, moved);
    assert_code(
        c.move_book(MoveBookRequest {
            name: moved.name.clone(),
            other_shelf_name: "shelves/999".into(),
        })
        .await,
        Code::NotFound,
        "shelves/999",
    );
    assert_code(
        c.move_book(MoveBookRequest {
            name: b.name.clone(),
            other_shelf_name: to.name.clone(),
        })
        .await,
        Code::NotFound,
        &b.name,
    );
}

async fn invalid_names_and_missing_fields(c: &impl LibraryApi) {
    let s = shelf(c, "names").await;
    let b = book(c, &s.name, "Named").await;
    assert_invalid(
        c.get_shelf(GetShelfRequest {
            name: "shelf/1".into(),
        })
        .await,
        "shelf/1",
    );
    assert_invalid(
        c.get_shelf(GetShelfRequest {
            name: String::new(),
        })
        .await,
        "name",
    );
    assert_invalid(c.get_book(get(&s.name)).await, &s.name);
    assert_invalid(
        c.delete_shelf(DeleteShelfRequest {
            name: b.name.clone(),
        })
        .await,
        &b.name,
    );
    assert_invalid(
        c.delete_book(DeleteBookRequest {
            name: "shelves/1/books".into(),
        })
        .await,
        "shelves/1/books",
    );
    assert_invalid(
        c.list_books(ListBooksRequest {
            parent: "shelves".into(),
            ..Default::default()
        })
        .await,
        "shelves",
    );
    assert_invalid(
        c.merge_shelves(MergeShelvesRequest {
            name: s.name.clone(),
            other_shelf: "elsewhere".into(),
        })
        .await,
        "elsewhere",
    );
    assert_invalid(
        c.move_book(MoveBookRequest {
            name: b.name.clone(),
            other_shelf_name: "shelves/a b".into(),
        })
        .await,
        "shelves/a b",
    );
    if c.keeps_message_presence() {
        assert_invalid(
            c.create_shelf(CreateShelfRequest { shelf: None }).await,
            "shelf",
        );
        assert_invalid(
            c.create_book(CreateBookRequest {
                parent: s.name.clone(),
                book: None,
            })
            .await,
            "book",
        );
    }
    // A shelf id that cannot have been assigned is a shelf that does not exist.
    assert_code(
        c.get_shelf(GetShelfRequest {
            name: "shelves/fiction".into(),
        })
        .await,
        Code::NotFound,
        "shelves/fiction",
    );
}

async fn duplicate_theme_already_exists(c: &impl LibraryApi) {
    let first = shelf(c, "unique").await;
    assert_code(
        c.create_shelf(CreateShelfRequest {
            shelf: Some(Shelf {
                name: String::new(),
                theme: "unique".into(),
            }),
        })
        .await,
        Code::AlreadyExists,
        &first.name,
    );
}

// ------------------------------------------------------------------------------------------
// The runs: every scenario, against every adapter, each on a fresh server
// ------------------------------------------------------------------------------------------

async fn start() -> Served {
    start_with(ServerConfig::default()).await
}

async fn start_with(config: ServerConfig) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    example::serve::server(Library::new().with_unique_themes())
        .config(config)
        .serve_listener(listener)
        .await
        .unwrap()
}

conformance! {
    start: start,
    adapters: {
        generated_rest: |url| Generated::rest(&url).await,
        generated_grpc: |url| Generated::grpc(&url).await,
        typed_grpc: |url| TypedGrpc::connect(&url).await,
        rest: |url| Dynamic::connect(&url, Transport::Rest).await,
        dynamic_grpc: |url| Dynamic::connect(&url, Transport::Grpc).await,
    },
    scenarios: [
    shelves_create_get_list_delete,
    books_create_get_list_delete,
    list_shelves_pages,
    list_books_pages,
    merge_shelves,
    update_book_with_mask,
    move_book,
    invalid_names_and_missing_fields,
    duplicate_theme_already_exists,
    ],
}

/// Every adapter's scenarios together reach every RPC of the Library: the server's request
/// hook records the RPC of each request that reaches it.
#[tokio::test]
async fn scenarios_reach_every_rpc() {
    let reached = Reached::default();
    let start = || start_with(reached.config());
    let rpcs = || LibraryServiceMethod::ALL.iter().map(|m| m.grpc_path());
    generated_rest::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "generated_rest");
    generated_grpc::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "generated_grpc");
    typed_grpc::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "typed_grpc");
    rest::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "rest");
    dynamic_grpc::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "dynamic_grpc");
}

// ------------------------------------------------------------------------------------------
// The example's `call` and `serve` beyond the scenarios
// ------------------------------------------------------------------------------------------

/// `call` prints proto3 JSON with the fields in proto order.
#[tokio::test]
async fn call_prints_proto3_json_in_field_order() {
    let server = start().await;
    let out = example::call::call(
        &server.url(),
        Transport::Grpc,
        "google.example.library.v1.LibraryService.CreateShelf",
        r#"{"shelf": {"theme": "poetry"}}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        "{\n  \"name\": \"shelves/1\",\n  \"theme\": \"poetry\"\n}"
    );
    let err = example::call::call(
        &server.url(),
        Transport::Grpc,
        "GetShelf",
        r#"{"nmae": "x"}"#,
    )
    .await
    .unwrap_err();
    assert!(
        err.is_invalid_request() && err.to_string().contains("nmae"),
        "{err}"
    );
    let err = example::call::call(&server.url(), Transport::Grpc, "ListAuthors", "{}")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ListAuthors"), "{err}");
    server.shutdown().await;
}

/// Found by hand: a REST call to a gRPC-only server (the example before it served REST) came
/// back as an empty success (`{}`), because tonic's fallback answers HTTP 200 with a
/// `grpc-status` header. eeops' REST transport, which `call` now goes through, treats a gRPC
/// answer to a REST request as an error.
#[tokio::test]
async fn rest_call_to_a_grpc_only_server_is_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = tonic::service::Routes::new(
        example::pb::v1::library_service_server::LibraryServiceServer::new(Library::new()),
    )
    .prepare()
    .into_axum_router();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let err = example::call::call(
        &format!("http://{addr}"),
        Transport::Rest,
        "ListShelves",
        "{}",
    )
    .await
    .unwrap_err();
    assert!(
        err.is_decode() && err.to_string().contains("application/grpc"),
        "{err}"
    );
    task.abort();
}

/// REST requests the bindings do not serve, or that do not decode, get Google's JSON error
/// envelope with the HTTP status of the code; the system parameters are tolerated.
#[tokio::test]
async fn rest_errors_use_googles_envelope() {
    let server = start().await;
    let http = reqwest::Client::new();
    let cases = [
        ("GET", "/v1/authors", 404, "NOT_FOUND", "/v1/authors"),
        // eeops' server: HTTP 405 with an `Allow` header, the envelope's status as its other
        // routing refusals.
        ("PUT", "/v1/shelves/1", 405, "INVALID_ARGUMENT", "PUT"),
        (
            "GET",
            "/v1/shelves?pagesize=2",
            400,
            "INVALID_ARGUMENT",
            "pagesize",
        ),
        (
            "GET",
            "/v1/shelves?pageSize=two",
            400,
            "INVALID_ARGUMENT",
            "two",
        ),
        ("GET", "/v1/shelves/1", 404, "NOT_FOUND", "shelves/1"),
        (
            "POST",
            "/v1/shelves/1:merge",
            400,
            "INVALID_ARGUMENT",
            "other_shelf",
        ),
    ];
    for (method, path, status, code, needle) in cases {
        let response = http
            .request(method.parse().unwrap(), format!("{}{path}", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], status, "{method} {path}: {body}");
        assert_eq!(body["error"]["status"], code, "{method} {path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{method} {path}: {body}");
    }
    // A bad JSON body, and the system parameters Google's clients add.
    let response = http
        .post(format!("{}/v1/shelves", server.url()))
        .body("{\"theme\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = http
        .post(format!(
            "{}/v1/shelves?alt=json&%24alt=json%3Benum-encoding%3Dint",
            server.url()
        ))
        .body(r#"{"theme": "systems"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let shelf: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        shelf,
        serde_json::json!({"name": "shelves/1", "theme": "systems"})
    );
    server.shutdown().await;
}

/// gRPC server reflection (v1, what grpcurl and Postman ask) lists the Library and answers its
/// file and, asked file by file as grpcurl does, every import, with the `google.api.http` rules
/// kept in the options.
#[tokio::test]
async fn reflection_describes_the_library() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let ask = |m: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    };
    tx.send(ask(MessageRequest::ListServices(String::new())))
        .await
        .unwrap();
    let mut answers = client
        .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list of services");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&example::pb::SERVICE), "{names:?}");

    // The service's file, then each import not yet seen, by file name.
    tx.send(ask(MessageRequest::FileContainingSymbol(
        example::pb::SERVICE.into(),
    )))
    .await
    .unwrap();
    let mut files: Vec<Vec<u8>> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut pending = 1;
    while pending > 0 {
        let Some(MessageResponse::FileDescriptorResponse(answer)) =
            answers.message().await.unwrap().unwrap().message_response
        else {
            panic!("not a file descriptor response");
        };
        pending -= 1;
        for bytes in answer.file_descriptor_proto {
            let file: prost_types::FileDescriptorProto =
                prost::Message::decode(bytes.as_slice()).unwrap();
            if !seen.insert(file.name().to_owned()) {
                continue;
            }
            for dep in &file.dependency {
                if !seen.contains(dep) {
                    tx.send(ask(MessageRequest::FileByFilename(dep.clone())))
                        .await
                        .unwrap();
                    pending += 1;
                }
            }
            files.push(bytes);
        }
    }
    assert!(
        seen.contains("google/example/library/v1/library.proto"),
        "{seen:?}"
    );
    assert!(seen.contains("google/api/resource.proto"), "{seen:?}");

    // Through prost-reflect, which keeps the options' extensions.
    let mut raw = Vec::new();
    for bytes in &files {
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut raw);
        prost::encoding::encode_varint(bytes.len() as u64, &mut raw);
        raw.extend_from_slice(bytes);
    }
    let pool = prost_reflect::DescriptorPool::decode(raw.as_slice()).unwrap();
    let method = pool
        .get_service_by_name(example::pb::SERVICE)
        .unwrap()
        .methods()
        .find(|m| m.name() == "UpdateBook")
        .unwrap();
    let http = pool.get_extension_by_name("google.api.http").unwrap();
    let options = method.options();
    let rule = options.get_extension(&http);
    assert_eq!(
        rule.as_message()
            .unwrap()
            .get_field_by_name("patch")
            .unwrap()
            .as_str(),
        Some("/v1/{book.name=shelves/*/books/*}")
    );
    drop(tx);
    server.shutdown().await;
}

/// `call` as the command line runs it, over both transports: the response in proto3 JSON on
/// stdout, errors as eeops' CLI prints them on stderr, and its exit codes.
#[tokio::test]
async fn call_prints_and_exits_like_the_eeops_cli() {
    use example::call::{Outcome, run};
    let server = start().await;
    let url = server.url();
    for transport in [Transport::Grpc, Transport::Rest] {
        let theme = format!("{transport:?}");
        let created = run(
            &url,
            transport,
            "CreateShelf",
            &format!(r#"{{"shelf": {{"theme": "{theme}"}}}}"#),
        )
        .await;
        assert_eq!(created.exit, 0, "{created:?}");
        assert!(created.stderr.is_empty(), "{created:?}");
        let shelf: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
        assert_eq!(shelf["theme"], theme.as_str());

        let missing = run(
            &url,
            transport,
            "GetBook",
            r#"{"name": "shelves/1/books/9"}"#,
        )
        .await;
        assert_eq!(
            missing,
            Outcome {
                exit: 1,
                stdout: String::new(),
                stderr: "error: GetBook: NOT_FOUND (5): book `shelves/1/books/9` not found\n"
                    .into(),
            }
        );
        let unknown = run(&url, transport, "ListAuthors", "{}").await;
        assert_eq!(unknown.exit, 2, "{unknown:?}");
        assert!(
            unknown.stderr.starts_with("error: ListAuthors: "),
            "{unknown:?}"
        );
        let bad_json = run(&url, transport, "GetShelf", "{\"name\": ").await;
        assert_eq!(bad_json.exit, 2, "{bad_json:?}");
        let bad_name = run(&url, transport, "GetShelf", r#"{"name": "shelf/1"}"#).await;
        // Refused by the REST client before sending, by the server (INVALID_ARGUMENT) over
        // gRPC: bad input either way, so 2, as eeops' CLI exits for INVALID_ARGUMENT.
        assert_eq!(bad_name.exit, 2, "{bad_name:?}");
        assert!(bad_name.stderr.contains("shelf/1"), "{bad_name:?}");
    }
    server.shutdown().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for transport in [Transport::Grpc, Transport::Rest] {
        let refused = run(&dead, transport, "ListShelves", "{}").await;
        assert_eq!(refused.exit, 3, "{refused:?}");
        assert!(
            refused
                .stderr
                .starts_with("error: ListShelves: transport error"),
            "{refused:?}"
        );
    }
}

/// A gRPC call of a method the server does not have is `UNIMPLEMENTED` (the REST fallback
/// does not swallow it).
#[tokio::test]
async fn unknown_grpc_method_is_unimplemented() {
    let server = start().await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    for path in [
        "/google.example.library.v1.LibraryService/ListAuthors",
        "/google.example.library.v2.LibraryService/ListShelves",
    ] {
        grpc.ready().await.unwrap();
        let status = grpc
            .unary::<(), (), _>(
                tonic::Request::new(()),
                http::uri::PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::Unimplemented,
            "{path}: {status:?}"
        );
    }
    server.shutdown().await;
}
