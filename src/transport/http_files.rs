//! Plain HTTP on the WebSocket port, for requests that are not upgrades: files from a
//! static directory (GET and HEAD, never outside its root, no listings) or one fixed,
//! configured response. Every response is complete, says `Connection: close` and is
//! flushed; the caller then closes the connection.

use crate::protocol::handshake::Request;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest piece of a file read into memory at once.
const CHUNK: usize = 64 * 1024;

/// A fixed plain HTTP response for requests that are not WebSocket upgrades.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainResponse {
    /// Status code (100..=599 except 101).
    pub status: u16,
    /// Content-Type header value.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// A directory whose files are served over plain HTTP (GET and HEAD).
#[derive(Debug, Clone)]
pub struct StaticDir {
    root: PathBuf,
}

impl StaticDir {
    /// Checks `path` is an existing directory and remembers its canonical path.
    /// Err(sentence naming the path) otherwise.
    pub fn new(path: &Path) -> Result<StaticDir, String> {
        let root = std::fs::canonicalize(path).map_err(|e| {
            format!(
                "the static directory '{}' cannot be used: {e}",
                path.display()
            )
        })?;
        if !root.is_dir() {
            return Err(format!(
                "the static directory '{}' is not a directory",
                path.display()
            ));
        }
        Ok(StaticDir { root })
    }

    /// The canonical root.
    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The reason phrase of a status code ("OK", "Not Found", ... ; "Unknown" when not known).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// The Content-Type for a file name by its extension (html, htm, js, mjs, css, json, txt, svg,
/// png, jpg/jpeg, gif, ico, wasm, webp, map, xml, pdf; others application/octet-stream;
/// text types with "; charset=utf-8").
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "json" | "map" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Writes the configured plain response to `request` and flushes: status line with
/// reason_phrase, Content-Type, Content-Length, `Connection: close`, then the body
/// (no body for HEAD, but the real Content-Length).
///
/// Statuses that cannot carry a body (1xx, 204, 304) get neither body nor
/// Content-Length. A status outside 100..=599, 101, or a Content-Type holding
/// control characters is refused with `InvalidInput` before anything is written.
pub async fn write_plain<W: AsyncWrite + Unpin>(
    w: &mut W,
    request: &Request,
    response: &PlainResponse,
) -> io::Result<()> {
    let status = response.status;
    if !(100..=599).contains(&status) || status == 101 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{status} is not a usable status for a plain HTTP response"),
        ));
    }
    if response.content_type.bytes().any(|b| b.is_ascii_control()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the plain response's Content-Type contains control characters",
        ));
    }
    let has_body = !(status < 200 || status == 204 || status == 304);
    let length = has_body.then_some(response.body.len() as u64);
    let mut out = head(status, &[], &response.content_type, length);
    if has_body && request.method != "HEAD" {
        out.extend_from_slice(&response.body);
    }
    w.write_all(&out).await?;
    w.flush().await
}

/// Serves `request` from `dir` and flushes; always one complete response with `Connection: close`:
/// - methods other than GET/HEAD: 405 with `Allow: GET, HEAD`;
/// - the path is percent-decoded (invalid encodings, encoded '/' or '\\' or NUL → 400);
///   '.' and '..' segments never escape the root: resolve, canonicalize, and refuse (404) anything
///   whose canonical path is not inside the canonical root (this also stops symlinks pointing out);
///   hidden segments (starting with '.') → 404;
/// - a directory serves its index.html (a directory path without trailing '/' → 301 redirect to
///   path + '/' keeping the query); no directory listings (404 when no index.html);
/// - missing or unreadable → 404 with a short text body; regular files only;
/// - 200 with Content-Type from content_type(), Content-Length, and the file streamed in chunks of
///   at most 64 KiB (never read whole into memory), nothing after the head for HEAD;
/// - error bodies are short text/plain; charset=utf-8 sentences.
///
/// An `Err` means the connection failed (or the file shrank while being sent, after
/// its Content-Length went out); the caller should just close it.
pub async fn serve<W: AsyncWrite + Unpin>(
    w: &mut W,
    dir: &StaticDir,
    request: &Request,
) -> io::Result<()> {
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return write_text(
            w,
            405,
            &[("Allow", "GET, HEAD")],
            "Only GET and HEAD are allowed here.",
            false,
        )
        .await;
    }
    match find(dir, &request.path).await {
        Ok(Found::File { file, len, name }) => {
            send_file(w, file, len, content_type(&name), head_only).await
        }
        Ok(Found::Directory) => {
            // One leading '/': "//host/dir" must not become a redirect to another host.
            let mut location = format!("/{}/", request.path.trim_start_matches('/'));
            if !request.query.is_empty() {
                location.push('?');
                location.push_str(&request.query);
            }
            let body = format!("Moved to {location}");
            write_text(w, 301, &[("Location", &location)], &body, head_only).await
        }
        Err(Refusal(status, message)) => write_text(w, status, &[], message, head_only).await,
    }
}

/// What a request path names inside the root.
enum Found {
    /// A regular file, opened, with its length and the name asked for (which,
    /// not where a symlink leads, decides the Content-Type).
    File { file: File, len: u64, name: PathBuf },
    /// A directory named without a trailing '/'.
    Directory,
}

/// Why a path is not served: status and body.
struct Refusal(u16, &'static str);

const NOT_FOUND: Refusal = Refusal(404, "Not found.");

/// Resolves `path` (the request's, still percent-encoded) to a file inside the root.
async fn find(dir: &StaticDir, path: &str) -> Result<Found, Refusal> {
    let mut name = decode_path(path)?;
    let mut target = inside_root(dir, &dir.root.join(&name)).await?;
    let meta = tokio::fs::metadata(&target).await.map_err(|_| NOT_FOUND)?;
    if meta.is_dir() {
        if !path.ends_with('/') {
            return Ok(Found::Directory);
        }
        name.push("index.html");
        target = inside_root(dir, &target.join("index.html")).await?;
    }
    // O_NONBLOCK: opening a FIFO put there must not block; O_NOFOLLOW: the canonical
    // path has no symlinks, so one appearing now is refused rather than followed.
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&target)
        .await
        .map_err(|_| NOT_FOUND)?;
    let meta = file.metadata().await.map_err(|_| NOT_FOUND)?;
    if !meta.is_file() {
        return Err(NOT_FOUND);
    }
    Ok(Found::File {
        file,
        len: meta.len(),
        name,
    })
}

/// Percent-decodes `path` segment by segment and resolves `.` and `..` (never above
/// the root) into a relative path of plain names.
fn decode_path(path: &str) -> Result<PathBuf, Refusal> {
    if !path.starts_with('/') {
        return Err(Refusal(400, "The path must start with '/'."));
    }
    let mut names: Vec<Vec<u8>> = Vec::new();
    for raw in path.split('/') {
        let name = percent_decode(raw)?;
        match name.as_slice() {
            b"" | b"." => {}
            b".." => {
                names.pop();
            }
            hidden if hidden.starts_with(b".") => return Err(NOT_FOUND),
            _ => names.push(name),
        }
    }
    Ok(names.iter().map(|n| OsStr::from_bytes(n)).collect())
}

/// Decodes one path segment; refuses bad `%` escapes and '/', '\\' or NUL in any form.
fn percent_decode(raw: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&c| (c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                return Err(Refusal(400, "The path has an invalid percent-encoding."));
            };
            i += 3;
            (hi * 16 + lo) as u8
        } else {
            i += 1;
            bytes[i - 1]
        };
        if matches!(b, b'/' | b'\\' | 0) {
            return Err(Refusal(
                400,
                "The path may not contain an encoded '/', a '\\' or a NUL.",
            ));
        }
        out.push(b);
    }
    Ok(out)
}

/// Canonicalizes `path` and checks the result lies inside the root with no hidden
/// name below it (a symlink may point anywhere; what counts is where it ends up).
async fn inside_root(dir: &StaticDir, path: &Path) -> Result<PathBuf, Refusal> {
    let canonical = tokio::fs::canonicalize(path).await.map_err(|_| NOT_FOUND)?;
    let relative = canonical.strip_prefix(&dir.root).map_err(|_| NOT_FOUND)?;
    if relative
        .iter()
        .any(|name| name.as_bytes().starts_with(b"."))
    {
        return Err(NOT_FOUND);
    }
    Ok(canonical)
}

/// The response head: status line, `extra` headers, Content-Type, Content-Length
/// (when given) and `Connection: close`.
fn head(status: u16, extra: &[(&str, &str)], content_type: &str, length: Option<u64>) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Type: {content_type}\r\n"));
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    head.into_bytes()
}

/// Writes a short text/plain response (head only for HEAD) and flushes.
async fn write_text<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    extra: &[(&str, &str)],
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let mut out = head(
        status,
        extra,
        "text/plain; charset=utf-8",
        Some(body.len() as u64),
    );
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    w.write_all(&out).await?;
    w.flush().await
}

/// Writes a 200 head and then `len` bytes of `file`, read at most [`CHUNK`] bytes at
/// a time (the head goes out in the same write as the first piece), and flushes.
async fn send_file<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut file: File,
    len: u64,
    content_type: &str,
    head_only: bool,
) -> io::Result<()> {
    let head = head(200, &[], content_type, Some(len));
    let mut left = if head_only { 0 } else { len };
    let chunk = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
    let mut buf = vec![0; head.len() + chunk];
    buf[..head.len()].copy_from_slice(&head);
    let mut filled = head.len();
    loop {
        let want = chunk.min(usize::try_from(left).unwrap_or(chunk));
        let n = if want == 0 {
            0
        } else {
            match file.read(&mut buf[filled..filled + want]).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being sent",
                    ))
                }
                n => n,
            }
        };
        w.write_all(&buf[..filled + n]).await?;
        filled = 0;
        left -= n as u64;
        if left == 0 {
            return w.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::Headers;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A directory tree under the system temp dir, removed when dropped:
    /// `base/secret.txt` outside the served `base/root`.
    struct Tree {
        base: PathBuf,
        dir: StaticDir,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let base = std::env::temp_dir().join(format!(
                "libwebsocket-http-files-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&base);
            let root = base.join("root");
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::create_dir_all(root.join("empty")).unwrap();
            std::fs::write(base.join("secret.txt"), "top secret").unwrap();
            std::fs::write(root.join("index.html"), "<p>home</p>").unwrap();
            std::fs::write(root.join("hello.txt"), "hello world\n").unwrap();
            std::fs::write(root.join("app.js"), "let a = 1;").unwrap();
            std::fs::write(root.join("sub/index.html"), "<p>sub</p>").unwrap();
            std::fs::write(root.join(".hidden"), "hidden").unwrap();
            std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
            std::os::unix::fs::symlink("hello.txt", root.join("inner.html")).unwrap();
            let dir = StaticDir::new(&root).unwrap();
            Tree { base, dir }
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    /// Collects what is written, the size of each write, and whether it was flushed.
    #[derive(Default)]
    struct Recorder {
        data: Vec<u8>,
        writes: Vec<usize>,
        flushed: bool,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.len());
            self.data.extend_from_slice(buf);
            self.flushed = false;
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushed = true;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn request(method: &str, path: &str, query: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Headers(vec![("Host".to_string(), "localhost".to_string())]),
        }
    }

    /// Serves one request and returns the recorder, checked to be flushed.
    async fn serve_one(tree: &Tree, method: &str, path: &str, query: &str) -> Recorder {
        let mut out = Recorder::default();
        serve(&mut out, &tree.dir, &request(method, path, query))
            .await
            .unwrap();
        assert!(out.flushed, "{method} {path}: not flushed");
        out
    }

    /// The exact bytes of a response with the standard headers.
    fn expected(status: &str, extra: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    const TEXT: &str = "text/plain; charset=utf-8";

    fn not_found() -> Vec<u8> {
        expected("404 Not Found", "", TEXT, b"Not found.")
    }

    fn text(out: &Recorder) -> String {
        String::from_utf8_lossy(&out.data).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn serves_a_file_with_its_type_and_length() {
        let tree = Tree::new("file");
        let out = serve_one(&tree, "GET", "/hello.txt", "").await;
        assert_eq!(out.data, expected("200 OK", "", TEXT, b"hello world\n"));
        let out = serve_one(&tree, "GET", "/app.js", "x=1").await;
        let js = "text/javascript; charset=utf-8";
        assert_eq!(out.data, expected("200 OK", "", js, b"let a = 1;"));
        // Percent-encoded names are decoded; a symlink staying inside the root is followed.
        let out = serve_one(&tree, "GET", "/%68ello.txt", "").await;
        assert_eq!(out.data, expected("200 OK", "", TEXT, b"hello world\n"));
        // The name asked for decides the type, not the symlink's target.
        let out = serve_one(&tree, "GET", "/inner.html", "").await;
        let html = "text/html; charset=utf-8";
        assert_eq!(out.data, expected("200 OK", "", html, b"hello world\n"));
        // '..' that stays inside the root resolves normally.
        let out = serve_one(&tree, "GET", "/sub/../hello.txt", "").await;
        assert_eq!(out.data, expected("200 OK", "", TEXT, b"hello world\n"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn head_has_the_real_length_and_no_body() {
        let tree = Tree::new("head");
        let out = serve_one(&tree, "HEAD", "/hello.txt", "").await;
        assert_eq!(
            text(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 12\r\nConnection: close\r\n\r\n"
        );
        let out = serve_one(&tree, "HEAD", "/missing", "").await;
        assert_eq!(
            text(&out),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 10\r\nConnection: close\r\n\r\n"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_directory_serves_its_index() {
        let tree = Tree::new("index");
        let html = "text/html; charset=utf-8";
        let out = serve_one(&tree, "GET", "/", "").await;
        assert_eq!(out.data, expected("200 OK", "", html, b"<p>home</p>"));
        let out = serve_one(&tree, "GET", "/sub/", "").await;
        assert_eq!(out.data, expected("200 OK", "", html, b"<p>sub</p>"));
        // No listing when there is no index.html.
        let out = serve_one(&tree, "GET", "/empty/", "").await;
        assert_eq!(out.data, not_found());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_directory_without_slash_is_redirected() {
        let tree = Tree::new("redirect");
        let out = serve_one(&tree, "GET", "/sub", "a=1&b=2").await;
        let location = "Location: /sub/?a=1&b=2\r\n";
        assert_eq!(
            out.data,
            expected(
                "301 Moved Permanently",
                location,
                TEXT,
                b"Moved to /sub/?a=1&b=2"
            )
        );
        // Never a protocol-relative URL that would leave the host.
        let out = serve_one(&tree, "GET", "//sub", "").await;
        let location = "Location: /sub/\r\n";
        assert_eq!(
            out.data,
            expected("301 Moved Permanently", location, TEXT, b"Moved to /sub/")
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn missing_files_are_not_found() {
        let tree = Tree::new("missing");
        for path in ["/nope.txt", "/sub/nope/", "/hello.txt/x"] {
            let out = serve_one(&tree, "GET", path, "").await;
            assert_eq!(out.data, not_found(), "{path}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn nothing_outside_the_root_is_reachable() {
        let tree = Tree::new("escape");
        assert!(tree.base.join("secret.txt").is_file());
        for path in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/sub/../../secret.txt",
            "/../../../../../../../../etc/passwd",
            "/link.txt",
        ] {
            let out = serve_one(&tree, "GET", path, "").await;
            assert_eq!(out.data, not_found(), "{path}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn hidden_names_are_not_found() {
        let tree = Tree::new("hidden");
        assert!(tree.dir.root().join(".hidden").is_file());
        for path in ["/.hidden", "/%2ehidden", "/sub/../.hidden"] {
            let out = serve_one(&tree, "GET", path, "").await;
            assert_eq!(out.data, not_found(), "{path}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn bad_encodings_are_bad_requests() {
        let tree = Tree::new("bad");
        let separator = b"The path may not contain an encoded '/', a '\\' or a NUL.";
        for path in [
            "/sub%2findex.html",
            "/sub%2Findex.html",
            "/a%5cb",
            "/a%00",
            "/a\\b",
        ] {
            let out = serve_one(&tree, "GET", path, "").await;
            assert_eq!(
                out.data,
                expected("400 Bad Request", "", TEXT, separator),
                "{path}"
            );
        }
        let invalid = b"The path has an invalid percent-encoding.";
        for path in ["/a%", "/a%2", "/a%zz", "/%g0"] {
            let out = serve_one(&tree, "GET", path, "").await;
            assert_eq!(
                out.data,
                expected("400 Bad Request", "", TEXT, invalid),
                "{path}"
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn only_get_and_head_are_allowed() {
        let tree = Tree::new("method");
        for method in ["POST", "PUT", "DELETE", "get"] {
            let out = serve_one(&tree, method, "/hello.txt", "").await;
            assert_eq!(
                out.data,
                expected(
                    "405 Method Not Allowed",
                    "Allow: GET, HEAD\r\n",
                    TEXT,
                    b"Only GET and HEAD are allowed here."
                ),
                "{method}"
            );
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_large_file_streams_in_chunks() {
        let tree = Tree::new("large");
        let content: Vec<u8> = (0..3 * CHUNK + 1234)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        std::fs::write(tree.dir.root().join("big.bin"), &content).unwrap();
        let out = serve_one(&tree, "GET", "/big.bin", "").await;
        assert_eq!(
            out.data,
            expected("200 OK", "", "application/octet-stream", &content)
        );
        let head_len = out.data.len() - content.len();
        assert!(out.writes.len() >= 4, "writes: {:?}", out.writes);
        assert!(
            out.writes[0] <= head_len + CHUNK,
            "writes: {:?}",
            out.writes
        );
        assert!(
            out.writes[1..].iter().all(|&n| n <= CHUNK),
            "writes: {:?}",
            out.writes
        );
        // HEAD on the same file: only the head.
        let out = serve_one(&tree, "HEAD", "/big.bin", "").await;
        assert_eq!(out.data.len(), head_len);
        assert!(text(&out).contains(&format!("Content-Length: {}\r\n", content.len())));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_empty_file_is_served() {
        let tree = Tree::new("empty-file");
        std::fs::write(tree.dir.root().join("empty.json"), "").unwrap();
        let out = serve_one(&tree, "GET", "/empty.json", "").await;
        assert_eq!(out.data, expected("200 OK", "", "application/json", b""));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn write_plain_answers_get_and_head() {
        let response = PlainResponse {
            status: 200,
            content_type: "text/plain".to_string(),
            body: b"WebSocket only.".to_vec(),
        };
        let mut out = Recorder::default();
        write_plain(&mut out, &request("GET", "/", ""), &response)
            .await
            .unwrap();
        assert!(out.flushed);
        assert_eq!(
            out.data,
            expected("200 OK", "", "text/plain", b"WebSocket only.")
        );

        let mut out = Recorder::default();
        write_plain(&mut out, &request("HEAD", "/", ""), &response)
            .await
            .unwrap();
        assert!(out.flushed);
        assert_eq!(
            text(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\n"
        );

        let teapot = PlainResponse {
            status: 418,
            content_type: "application/json".to_string(),
            body: b"{}".to_vec(),
        };
        let mut out = Recorder::default();
        write_plain(&mut out, &request("POST", "/x", ""), &teapot)
            .await
            .unwrap();
        assert_eq!(
            out.data,
            expected("418 I'm a teapot", "", "application/json", b"{}")
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn write_plain_refuses_unusable_responses() {
        let no_content = PlainResponse {
            status: 204,
            content_type: "text/plain".to_string(),
            body: b"ignored".to_vec(),
        };
        let mut out = Recorder::default();
        write_plain(&mut out, &request("GET", "/", ""), &no_content)
            .await
            .unwrap();
        assert_eq!(
            text(&out),
            "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        );
        for (status, content_type) in [(101, "text/plain"), (600, "text/plain"), (200, "a\r\nb: c")]
        {
            let bad = PlainResponse {
                status,
                content_type: content_type.to_string(),
                body: Vec::new(),
            };
            let mut out = Recorder::default();
            let err = write_plain(&mut out, &request("GET", "/", ""), &bad)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(out.data.is_empty());
        }
    }

    #[test]
    fn static_dir_needs_an_existing_directory() {
        let tree = Tree::new("new");
        let file = tree.dir.root().join("hello.txt");
        let err = StaticDir::new(&file).unwrap_err();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("is not a directory"), "{err}");
        let missing = tree.base.join("missing");
        let err = StaticDir::new(&missing).unwrap_err();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("cannot be used"), "{err}");
        // The root is canonical even when given with '.' and '..'.
        let roundabout = tree.base.join("root/sub/../.");
        let dir = StaticDir::new(&roundabout).unwrap();
        assert_eq!(dir.root(), tree.dir.root());
        assert_eq!(
            dir.root(),
            std::fs::canonicalize(tree.base.join("root")).unwrap()
        );
    }

    #[test]
    fn content_types_and_reasons() {
        let cases = [
            ("a.HTML", "text/html; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.svg", "image/svg+xml"),
            ("a.JPEG", "image/jpeg"),
            ("a.wasm", "application/wasm"),
            ("a.js.map", "application/json"),
            ("Makefile", "application/octet-stream"),
            ("a.tar.gz", "application/octet-stream"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(599), "Unknown");
    }
}
