//! An in-memory implementation of `google.example.library.v1.LibraryService`.
//!
//! Shelves are `shelves/{shelf_id}` and books `shelves/{shelf_id}/books/{book_id}`; the server
//! assigns ids (increasing integers, never reused), so lists come back in creation order.
//!
//! * Names are checked before anything else: a name that does not have its form, or whose ids
//!   are empty or hold characters outside `[A-Za-z0-9-_.~]`, is `INVALID_ARGUMENT` and the
//!   message names the field, the value and the expected form.
//! * A shelf or book that does not exist is `NOT_FOUND`, naming it.
//! * Lists take `page_size` (0 means [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`], negative
//!   is refused) and an opaque `page_token` from the previous page; a token that this server did
//!   not hand out for the same list is `INVALID_ARGUMENT`.
//! * `UpdateBook` follows its `update_mask`: the paths `author`, `title`, `read` (`name` is
//!   immutable, anything else is refused); `*` replaces all three; no mask updates the fields
//!   the request sets (non-default values). A `book.name` is required.
//! * `MergeShelves` moves every book of `other_shelf` into `name` (new ids) and deletes
//!   `other_shelf`; the same shelf twice is a no-op. `MoveBook` gives the book a new id in the
//!   destination shelf; moving it to its own shelf is a no-op.
//! * `ALREADY_EXISTS` answers a `CreateShelf` whose theme is already a shelf's theme when the
//!   store is built [`with_unique_themes`](Library::with_unique_themes) (the proto lets the
//!   server assign every id, so nothing else can collide).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use tonic::{Request, Response, Status};

use super::pb::v1::library_service_server::LibraryService;
use super::pb::v1::{
    Book, CreateBookRequest, CreateShelfRequest, DeleteBookRequest, DeleteShelfRequest,
    GetBookRequest, GetShelfRequest, ListBooksRequest, ListBooksResponse, ListShelvesRequest,
    ListShelvesResponse, MergeShelvesRequest, MoveBookRequest, Shelf, UpdateBookRequest,
};

/// The page size of a list that asks for none (`page_size` 0).
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page a list answers (bigger `page_size` values are lowered to it).
pub const MAX_PAGE_SIZE: usize = 1000;

const SHELF_FORM: &str = "shelves/{shelf_id}";
const BOOK_FORM: &str = "shelves/{shelf_id}/books/{book_id}";

/// The in-memory library. Cloning gives another handle on the same shelves.
#[derive(Clone, Default)]
pub struct Library {
    state: Arc<Mutex<State>>,
    unique_themes: bool,
}

#[derive(Default)]
struct State {
    next_shelf: u64,
    shelves: BTreeMap<u64, ShelfEntry>,
}

struct ShelfEntry {
    theme: String,
    next_book: u64,
    books: BTreeMap<u64, BookEntry>,
}

#[derive(Clone)]
struct BookEntry {
    author: String,
    title: String,
    read: bool,
}

impl Library {
    /// An empty library.
    pub fn new() -> Self {
        Self::default()
    }

    /// A library that refuses a second shelf with the same theme (`ALREADY_EXISTS`).
    pub fn with_unique_themes(mut self) -> Self {
        self.unique_themes = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than refusing every later call would.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn shelf_name(id: u64) -> String {
    format!("shelves/{id}")
}

fn book_name(shelf: u64, book: u64) -> String {
    format!("shelves/{shelf}/books/{book}")
}

fn shelf_message(id: u64, entry: &ShelfEntry) -> Shelf {
    Shelf {
        name: shelf_name(id),
        theme: entry.theme.clone(),
    }
}

fn book_message(shelf: u64, id: u64, entry: &BookEntry) -> Book {
    Book {
        name: book_name(shelf, id),
        author: entry.author.clone(),
        title: entry.title.clone(),
        read: entry.read,
    }
}

/// A valid id segment: non-empty, unreserved characters only.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn bad_name(field: &str, value: &str, form: &str) -> Status {
    if value.is_empty() {
        Status::invalid_argument(format!(
            "`{field}` is required (a name of the form `{form}`)"
        ))
    } else {
        Status::invalid_argument(format!(
            "`{field}` is `{value}`, which is not a name of the form `{form}`"
        ))
    }
}

/// The shelf id of a shelf name. Ids are assigned by the server, so an id that is a valid
/// segment but not a number names a shelf that cannot exist: `None` (NOT_FOUND for callers).
fn parse_shelf(field: &str, value: &str) -> Result<Option<u64>, Status> {
    match value.strip_prefix("shelves/") {
        Some(id) if valid_segment(id) => Ok(id.parse().ok()),
        _ => Err(bad_name(field, value, SHELF_FORM)),
    }
}

/// The shelf and book ids of a book name (see [`parse_shelf`] for `None`).
fn parse_book(field: &str, value: &str) -> Result<Option<(u64, u64)>, Status> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        ["shelves", shelf, "books", book] if valid_segment(shelf) && valid_segment(book) => {
            Ok(shelf.parse().ok().zip(book.parse().ok()))
        }
        _ => Err(bad_name(field, value, BOOK_FORM)),
    }
}

fn shelf_not_found(name: &str) -> Status {
    Status::not_found(format!("shelf `{name}` not found"))
}

fn book_not_found(name: &str) -> Status {
    Status::not_found(format!("book `{name}` not found"))
}

/// Page size and start key of a list request; `list` says which list the token must be for.
fn page(page_size: i32, page_token: &str, list: &str) -> Result<(usize, u64), Status> {
    let size = match usize::try_from(page_size) {
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(n) => n.min(MAX_PAGE_SIZE),
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "`page_size` is {page_size}: it must not be negative"
            )));
        }
    };
    if page_token.is_empty() {
        return Ok((size, 0));
    }
    let invalid = || {
        Status::invalid_argument(format!(
            "`page_token` `{page_token}` is not a token this server gave for this list"
        ))
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(page_token)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let (for_list, start) = text.rsplit_once('@').ok_or_else(invalid)?;
    if for_list != list {
        return Err(invalid());
    }
    let start = start.parse().map_err(|_| invalid())?;
    Ok((size, start))
}

fn page_token(list: &str, next: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{list}@{next}"))
}

/// Up to `size` entries of `map` from key `start`, and the token of the next page ("" at the end).
fn take_page<'a, V, T>(
    map: &'a BTreeMap<u64, V>,
    size: usize,
    start: u64,
    list: &str,
    f: impl Fn(u64, &'a V) -> T,
) -> (Vec<T>, String) {
    let mut items = Vec::new();
    let mut rest = map.range(start..);
    for (id, v) in rest.by_ref().take(size) {
        items.push(f(*id, v));
    }
    let next = rest
        .next()
        .map_or_else(String::new, |(id, _)| page_token(list, *id));
    (items, next)
}

const MASK_PATHS: &[&str] = &["author", "title", "read"];

#[tonic::async_trait]
impl LibraryService for Library {
    async fn create_shelf(
        &self,
        request: Request<CreateShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let shelf = request
            .into_inner()
            .shelf
            .ok_or_else(|| Status::invalid_argument("`shelf` is required"))?;
        let mut state = self.lock();
        if self.unique_themes
            && let Some((id, _)) = state.shelves.iter().find(|(_, s)| s.theme == shelf.theme)
        {
            return Err(Status::already_exists(format!(
                "a shelf with theme `{}` already exists: `{}`",
                shelf.theme,
                shelf_name(*id)
            )));
        }
        state.next_shelf += 1;
        let id = state.next_shelf;
        let entry = ShelfEntry {
            theme: shelf.theme,
            next_book: 0,
            books: BTreeMap::new(),
        };
        let out = shelf_message(id, &entry);
        state.shelves.insert(id, entry);
        Ok(Response::new(out))
    }

    async fn get_shelf(
        &self,
        request: Request<GetShelfRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let name = request.into_inner().name;
        let id = parse_shelf("name", &name)?;
        let state = self.lock();
        id.and_then(|id| state.shelves.get(&id).map(|s| shelf_message(id, s)))
            .map(Response::new)
            .ok_or_else(|| shelf_not_found(&name))
    }

    async fn list_shelves(
        &self,
        request: Request<ListShelvesRequest>,
    ) -> Result<Response<ListShelvesResponse>, Status> {
        let req = request.into_inner();
        let (size, start) = page(req.page_size, &req.page_token, "shelves")?;
        let state = self.lock();
        let (shelves, next_page_token) =
            take_page(&state.shelves, size, start, "shelves", shelf_message);
        Ok(Response::new(ListShelvesResponse {
            shelves,
            next_page_token,
        }))
    }

    async fn delete_shelf(
        &self,
        request: Request<DeleteShelfRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.into_inner().name;
        let id = parse_shelf("name", &name)?;
        let mut state = self.lock();
        id.and_then(|id| state.shelves.remove(&id))
            .map(|_| Response::new(()))
            .ok_or_else(|| shelf_not_found(&name))
    }

    async fn merge_shelves(
        &self,
        request: Request<MergeShelvesRequest>,
    ) -> Result<Response<Shelf>, Status> {
        let req = request.into_inner();
        let into = parse_shelf("name", &req.name)?;
        let from = parse_shelf("other_shelf", &req.other_shelf)?;
        let mut state = self.lock();
        let into = into
            .filter(|id| state.shelves.contains_key(id))
            .ok_or_else(|| shelf_not_found(&req.name))?;
        let from = from
            .filter(|id| state.shelves.contains_key(id))
            .ok_or_else(|| shelf_not_found(&req.other_shelf))?;
        if into != from {
            let moved = state
                .shelves
                .remove(&from)
                .map(|s| s.books)
                .unwrap_or_default();
            if let Some(target) = state.shelves.get_mut(&into) {
                for book in moved.into_values() {
                    target.next_book += 1;
                    target.books.insert(target.next_book, book);
                }
            }
        }
        state
            .shelves
            .get(&into)
            .map(|s| Response::new(shelf_message(into, s)))
            .ok_or_else(|| shelf_not_found(&req.name))
    }

    async fn create_book(
        &self,
        request: Request<CreateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let shelf = parse_shelf("parent", &req.parent)?;
        let book = req
            .book
            .ok_or_else(|| Status::invalid_argument("`book` is required"))?;
        let mut state = self.lock();
        let (shelf_id, entry) = shelf
            .and_then(|id| state.shelves.get_mut(&id).map(|s| (id, s)))
            .ok_or_else(|| shelf_not_found(&req.parent))?;
        entry.next_book += 1;
        let id = entry.next_book;
        let stored = BookEntry {
            author: book.author,
            title: book.title,
            read: book.read,
        };
        let out = book_message(shelf_id, id, &stored);
        entry.books.insert(id, stored);
        Ok(Response::new(out))
    }

    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        let name = request.into_inner().name;
        let ids = parse_book("name", &name)?;
        let state = self.lock();
        ids.and_then(|(s, b)| {
            let entry = state.shelves.get(&s)?.books.get(&b)?;
            Some(book_message(s, b, entry))
        })
        .map(Response::new)
        .ok_or_else(|| book_not_found(&name))
    }

    async fn list_books(
        &self,
        request: Request<ListBooksRequest>,
    ) -> Result<Response<ListBooksResponse>, Status> {
        let req = request.into_inner();
        let shelf = parse_shelf("parent", &req.parent)?;
        let (size, start) = page(req.page_size, &req.page_token, &req.parent)?;
        let state = self.lock();
        let (shelf_id, entry) = shelf
            .and_then(|id| state.shelves.get(&id).map(|s| (id, s)))
            .ok_or_else(|| shelf_not_found(&req.parent))?;
        let (books, next_page_token) =
            take_page(&entry.books, size, start, &req.parent, |id, b| {
                book_message(shelf_id, id, b)
            });
        Ok(Response::new(ListBooksResponse {
            books,
            next_page_token,
        }))
    }

    async fn delete_book(
        &self,
        request: Request<DeleteBookRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.into_inner().name;
        let ids = parse_book("name", &name)?;
        let mut state = self.lock();
        ids.and_then(|(s, b)| state.shelves.get_mut(&s)?.books.remove(&b))
            .map(|_| Response::new(()))
            .ok_or_else(|| book_not_found(&name))
    }

    async fn update_book(
        &self,
        request: Request<UpdateBookRequest>,
    ) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let book = req
            .book
            .ok_or_else(|| Status::invalid_argument("`book` is required"))?;
        let ids = parse_book("book.name", &book.name)?;
        let paths: Vec<String> = match &req.update_mask {
            Some(mask) if !mask.paths.is_empty() => {
                let mut paths = Vec::new();
                for p in &mask.paths {
                    match p.as_str() {
                        "*" => paths.extend(MASK_PATHS.iter().map(|s| (*s).to_owned())),
                        "name" => {
                            return Err(Status::invalid_argument(
                                "`update_mask` names `name`, which cannot be updated (move the book instead)",
                            ));
                        }
                        p if MASK_PATHS.contains(&p) => paths.push(p.to_owned()),
                        other => {
                            return Err(Status::invalid_argument(format!(
                                "`update_mask` names `{other}`, which is not a field a book can update ({})",
                                MASK_PATHS.join(", ")
                            )));
                        }
                    }
                }
                paths
            }
            // No mask: the fields the request sets.
            _ => [
                (!book.author.is_empty()).then_some("author"),
                (!book.title.is_empty()).then_some("title"),
                book.read.then_some("read"),
            ]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect(),
        };
        let mut state = self.lock();
        let (shelf_id, book_id, entry) = ids
            .and_then(|(s, b)| Some((s, b, state.shelves.get_mut(&s)?.books.get_mut(&b)?)))
            .ok_or_else(|| book_not_found(&book.name))?;
        for p in &paths {
            match p.as_str() {
                "author" => entry.author.clone_from(&book.author),
                "title" => entry.title.clone_from(&book.title),
                "read" => entry.read = book.read,
                _ => {}
            }
        }
        Ok(Response::new(book_message(shelf_id, book_id, entry)))
    }

    async fn move_book(&self, request: Request<MoveBookRequest>) -> Result<Response<Book>, Status> {
        let req = request.into_inner();
        let ids = parse_book("name", &req.name)?;
        let target = parse_shelf("other_shelf_name", &req.other_shelf_name)?;
        let mut state = self.lock();
        let (shelf_id, book_id) = ids
            .filter(|(s, b)| {
                state
                    .shelves
                    .get(s)
                    .is_some_and(|s| s.books.contains_key(b))
            })
            .ok_or_else(|| book_not_found(&req.name))?;
        let target = target
            .filter(|id| state.shelves.contains_key(id))
            .ok_or_else(|| shelf_not_found(&req.other_shelf_name))?;
        if target == shelf_id {
            let entry = &state.shelves[&shelf_id].books[&book_id];
            return Ok(Response::new(book_message(shelf_id, book_id, entry)));
        }
        let book = state
            .shelves
            .get_mut(&shelf_id)
            .and_then(|s| s.books.remove(&book_id))
            .ok_or_else(|| book_not_found(&req.name))?;
        let dest = state
            .shelves
            .get_mut(&target)
            .ok_or_else(|| shelf_not_found(&req.other_shelf_name))?;
        dest.next_book += 1;
        let new_id = dest.next_book;
        let out = book_message(target, new_id, &book);
        dest.books.insert(new_id, book);
        Ok(Response::new(out))
    }
}
