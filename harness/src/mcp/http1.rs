//! One HTTP/1.1 client connection, polled by the request that holds it: the request is
//! written with one `write` from bytes built once per session, the answer's head is parsed
//! with `httparse` straight from the read buffer, and the body is handed out as slices of
//! that buffer. No task, channel or header map stands between a request and its socket.

use std::io;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::socket::Socket;
use super::ticks::Ticks;
use super::waiting::Waiting;

/// Bound on an answer's status line and headers.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Headers read from one answer; more is a malformed answer.
const MAX_HEADERS: usize = 64;
/// Bytes asked of the kernel per read.
const READ_CHUNK: usize = 16 * 1024;
/// An idle connection is looked at before it is reused only once it has been idle this
/// long: servers close idle keep-alive connections after seconds, not within a
/// millisecond of answering (a server that closes after answering says
/// `Connection: close`). At high rates this saves a system call per request.
const LOOK_AFTER_IDLE: Duration = Duration::from_millis(1);

/// Why an exchange on a connection failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum HttpError {
    /// The socket failed, or the server closed it before the answer was complete.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection before the answer was complete.
    #[error("connection closed by the server")]
    Closed,
    /// The bytes are not an HTTP/1.1 answer.
    #[error("malformed HTTP answer")]
    Malformed,
}

impl HttpError {
    /// Whether the server closed or reset the connection (rather than sending bytes that
    /// are not HTTP).
    pub(super) fn is_close(&self) -> bool {
        match self {
            HttpError::Closed => true,
            HttpError::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ),
            HttpError::Malformed => false,
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `Content-Length`: this many bytes are left.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
    /// The body has been read to its end.
    Done,
}

/// Where a chunked body's decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data: this many bytes are left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

/// The media type of an answer, as far as MCP cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContentKind {
    Json,
    EventStream,
    Other,
}

/// An answer's status line and the headers the client uses.
#[derive(Debug)]
pub(super) struct Head {
    pub status: u16,
    pub kind: ContentKind,
    /// `Mcp-Session-Id`, when present and printable.
    pub session_id: Option<String>,
    /// Whether the connection may carry another request after this answer.
    pub keep_alive: bool,
    pub framing: Framing,
}

/// A keep-alive connection and the bytes read from it but not yet consumed.
#[derive(Debug)]
pub(super) struct Conn {
    socket: Socket,
    /// Whether reads wait for the load worker's ticks (see [`super::ticks`]).
    on_ticks: bool,
    /// The requests waiting for a connection of this one's session, if it has one.
    waiting: Option<Arc<Waiting>>,
    /// When it last went idle.
    idle_since: Option<Instant>,
    /// Bytes read; `buf[pos..]` is not consumed yet.
    buf: Vec<u8>,
    pos: usize,
    /// The request being written.
    out: Vec<u8>,
}

impl Conn {
    /// Connects to `addr` with Nagle's algorithm off.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            socket: Socket::connect(addr).await?,
            on_ticks: true,
            waiting: None,
            idle_since: None,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            out: Vec::with_capacity(512),
        })
    }

    /// The request buffer, emptied, for the caller to write a request into.
    pub fn request_buffer(&mut self) -> &mut Vec<u8> {
        self.out.clear();
        &mut self.out
    }

    /// Sends what was written into [`Conn::request_buffer`].
    pub async fn send(&mut self) -> Result<(), HttpError> {
        self.socket.write_all(&self.out).await?;
        Ok(())
    }

    /// Whether reads wait for the load worker's ticks, when there are any (the default),
    /// or for the reactor.
    pub fn read_on_ticks(&mut self, on_ticks: bool) {
        self.on_ticks = on_ticks;
    }

    /// Ties the connection to its session's queue for connections: a read waiting for a
    /// tick stops waiting when a request joins it.
    pub fn watch(&mut self, waiting: Arc<Waiting>) {
        self.waiting = Some(waiting);
    }

    /// Whether an idle connection can carry another request: nothing of an earlier answer
    /// is left unread, and the server has neither closed it nor sent anything unasked
    /// while it sat idle (a look at the socket, without waiting, unless it has been idle
    /// for less than [`LOOK_AFTER_IDLE`]).
    pub fn reusable(&self) -> bool {
        self.fully_read()
            && (self
                .idle_since
                .is_some_and(|t| t.elapsed() < LOOK_AFTER_IDLE)
                || self.socket.is_quiet())
    }

    /// Whether every byte read so far has been consumed.
    pub fn fully_read(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Marks the connection idle from now, and gives back the memory of an unusually
    /// large answer.
    pub fn make_idle(&mut self) {
        self.idle_since = Some(Instant::now());
        if self.buf.capacity() > 4 * READ_CHUNK {
            self.buf = Vec::with_capacity(READ_CHUNK);
            self.pos = 0;
        }
    }

    /// Reads the answer's head (skipping `1xx` interim answers).
    pub async fn read_head(&mut self) -> Result<Head, HttpError> {
        loop {
            if let Some(head) = self.parse_head()? {
                // Nothing here asks to switch protocols.
                if head.status == 101 {
                    return Err(HttpError::Malformed);
                }
                if (100..200).contains(&head.status) {
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() - self.pos > MAX_HEAD_BYTES {
                return Err(HttpError::Malformed);
            }
            if !self.fill().await? {
                return Err(HttpError::Closed);
            }
        }
    }

    fn parse_head(&mut self) -> Result<Option<Head>, HttpError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let used = match response.parse(&self.buf[self.pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::Malformed),
        };
        let status = response.code.ok_or(HttpError::Malformed)?;
        let mut head = Head {
            status,
            kind: ContentKind::Other,
            session_id: None,
            keep_alive: response.version == Some(1),
            framing: Framing::UntilClose,
        };
        let mut length = None;
        // Whether any transfer coding is declared, and whether the last one is `chunked`.
        let (mut coded, mut chunked) = (false, false);
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(HttpError::Malformed)?;
                if length.is_some_and(|l| l != n) {
                    return Err(HttpError::Malformed);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // Several lines form one list; the last coding decides the framing.
                if let Some(last) = h
                    .value
                    .rsplit(|&b| b == b',')
                    .map(<[u8]>::trim_ascii)
                    .find(|t| !t.is_empty())
                {
                    coded = true;
                    chunked = last.eq_ignore_ascii_case(b"chunked");
                }
            } else if name.eq_ignore_ascii_case("content-type") {
                let value = h.value.trim_ascii_start();
                head.kind = if starts_with_ignore_case(value, b"application/json") {
                    ContentKind::Json
                } else if starts_with_ignore_case(value, b"text/event-stream") {
                    ContentKind::EventStream
                } else {
                    ContentKind::Other
                };
            } else if name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        head.keep_alive = false;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        head.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("mcp-session-id") {
                head.session_id = std::str::from_utf8(h.value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic()))
                    .map(str::to_string);
            }
        }
        self.pos += used;
        if coded && length.is_some() {
            // Both framings at once: read by the coding, and do not trust the connection.
            head.keep_alive = false;
        }
        head.framing = if status == 204 || status == 304 || (100..200).contains(&status) {
            Framing::Done
        } else if chunked {
            Framing::Chunked(Chunk::Size)
        } else if coded {
            head.keep_alive = false;
            Framing::UntilClose
        } else if let Some(n) = length {
            if n == 0 {
                Framing::Done
            } else {
                Framing::Length(n)
            }
        } else {
            head.keep_alive = false;
            Framing::UntilClose
        };
        Ok(Some(head))
    }

    /// The next piece of the body, or `None` at its end. `framing` is the head's, and
    /// is advanced as the body is read.
    pub async fn body_chunk(&mut self, framing: &mut Framing) -> Result<Option<&[u8]>, HttpError> {
        loop {
            if let Some(range) = self.decode(framing)? {
                return Ok(Some(&self.buf[range]));
            }
            if *framing == Framing::Done {
                return Ok(None);
            }
            if !self.fill().await? {
                return match framing {
                    Framing::UntilClose => {
                        *framing = Framing::Done;
                        Ok(None)
                    }
                    _ => Err(HttpError::Closed),
                };
            }
        }
    }

    /// The rest of a `Content-Length` body as one slice (empty for a body already read).
    pub async fn body_exact(&mut self, framing: &mut Framing) -> Result<&[u8], HttpError> {
        let n = match *framing {
            Framing::Length(n) => n as usize,
            _ => 0,
        };
        while self.buf.len() - self.pos < n {
            if !self.fill().await? {
                return Err(HttpError::Closed);
            }
        }
        if n > 0 {
            *framing = Framing::Done;
        }
        let range = self.take(n);
        Ok(&self.buf[range])
    }

    /// Whether the body ends with what is already buffered (no read).
    pub fn finish_buffered(&mut self, framing: &mut Framing) -> Result<bool, HttpError> {
        while self.decode(framing)?.is_some() {}
        Ok(*framing == Framing::Done)
    }

    /// Decodes buffered bytes: the range of the next body piece, or `None` when more
    /// bytes are needed (or the body is done).
    fn decode(
        &mut self,
        framing: &mut Framing,
    ) -> Result<Option<std::ops::Range<usize>>, HttpError> {
        loop {
            let available = self.buf.len() - self.pos;
            match framing {
                Framing::Done => return Ok(None),
                Framing::UntilClose | Framing::Length(_) | Framing::Chunked(Chunk::Data(_))
                    if available == 0 =>
                {
                    return Ok(None);
                }
                Framing::UntilClose => return Ok(Some(self.take(available))),
                Framing::Length(left) => {
                    let n = (*left).min(available as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        *framing = Framing::Done;
                    }
                    return Ok(Some(self.take(n)));
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    let n = (*left).min(available as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        *framing = Framing::Chunked(Chunk::DataEnd);
                    }
                    return Ok(Some(self.take(n)));
                }
                Framing::Chunked(Chunk::Size) => {
                    // A size line starts with a hex digit (httparse reads an empty
                    // line as size 0, which would end the body early).
                    if available == 0 {
                        return Ok(None);
                    }
                    if !self.buf[self.pos].is_ascii_hexdigit() {
                        return Err(HttpError::Malformed);
                    }
                    match httparse::parse_chunk_size(&self.buf[self.pos..]) {
                        Ok(httparse::Status::Complete((used, 0))) => {
                            self.pos += used;
                            *framing = Framing::Chunked(Chunk::Trailers);
                        }
                        Ok(httparse::Status::Complete((used, size))) => {
                            self.pos += used;
                            *framing = Framing::Chunked(Chunk::Data(size));
                        }
                        Ok(httparse::Status::Partial) if available < 1024 => return Ok(None),
                        _ => return Err(HttpError::Malformed),
                    }
                }
                Framing::Chunked(Chunk::DataEnd) => {
                    let rest = &self.buf[self.pos..];
                    if rest.len() < 2 {
                        return Ok(None);
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(HttpError::Malformed);
                    }
                    self.pos += 2;
                    *framing = Framing::Chunked(Chunk::Size);
                }
                Framing::Chunked(Chunk::Trailers) => {
                    let rest = &self.buf[self.pos..];
                    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                        if available > MAX_HEAD_BYTES {
                            return Err(HttpError::Malformed);
                        }
                        return Ok(None);
                    };
                    let empty = rest[..end].trim_ascii().is_empty();
                    self.pos += end + 1;
                    if empty {
                        *framing = Framing::Done;
                    }
                }
            }
        }
    }

    fn take(&mut self, n: usize) -> std::ops::Range<usize> {
        let start = self.pos;
        self.pos += n;
        start..self.pos
    }

    /// Reads more bytes; `false` at the end of the stream. On the worker's ticks a read
    /// that finds nothing waits for the next tick, or until a request queues for a
    /// connection of the session; then it waits on the reactor.
    async fn fill(&mut self) -> Result<bool, HttpError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
        }
        self.pos = 0;
        self.buf.reserve(READ_CHUNK);
        let ticks = if self.on_ticks {
            self.socket.ticks()
        } else {
            None
        };
        let on_reactor = self.socket.settle(ticks.is_none(), Instant::now())?;
        let mut ticks = ticks.filter(|_| !on_reactor);
        // Just after a request went out its answer cannot be here yet: wait for a tick,
        // or for the reactor to say it came, before the first read. A read that tried
        // at once would cost a system call that finds nothing, once per request; the
        // arrival stamp keeps the wait out of the latency.
        let mut wait = self.socket.take_sent();
        loop {
            if wait {
                match &ticks {
                    Some(t) => {
                        if self.next_tick_or_queue(t).await {
                            ticks = None;
                            self.socket.settle(true, Instant::now())?;
                        }
                    }
                    None => self.socket.readable().await?,
                }
            }
            match self.socket.receive(&mut self.buf) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => wait = false,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits for the next tick; `true` if a request queued for a connection of the
    /// session first (or already waits).
    async fn next_tick_or_queue(&self, ticks: &Ticks) -> bool {
        match &self.waiting {
            Some(waiting) => tokio::select! {
                biased;
                () = waiting.until_any() => true,
                () = super::ticks::next(ticks) => false,
            },
            None => {
                super::ticks::next(ticks).await;
                false
            }
        }
    }
}

fn starts_with_ignore_case(value: &[u8], prefix: &[u8]) -> bool {
    value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests;
