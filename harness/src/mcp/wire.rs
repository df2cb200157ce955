//! The connections under a [`StreamSession`](super::stream::StreamSession): a stream of
//! incoming messages and a writer of outgoing ones, over WebSocket (one message per text
//! frame), TCP or a child's stdin/stdout (one message per line).

use std::process::Stdio;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{BoxStream, SplitSink, StreamExt};
use futures_util::{SinkExt, future::ready};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::{self, Message, protocol::WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::command::StdioCommand;
use super::outcome::ErrorClass;

type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection could not be made or broke.
#[derive(Debug, thiserror::Error)]
pub(super) enum WireError {
    /// A socket or pipe failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket failed (handshake included).
    #[error("websocket: {0}")]
    WebSocket(#[from] tungstenite::Error),
    /// The stdio server could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl WireError {
    /// The class a request would be charged with: a refused WebSocket upgrade is the
    /// HTTP status it got, anything else `connect`.
    pub(super) fn class(&self) -> ErrorClass {
        match self {
            WireError::WebSocket(tungstenite::Error::Http(response)) => {
                ErrorClass::of_status(response.status().as_u16())
            }
            _ => ErrorClass::Connect,
        }
    }
}

/// Why the incoming stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The peer closed the connection, or it broke.
    Closed,
    /// One message exceeded the size bound.
    TooLarge,
}

/// An open connection.
pub(super) struct Wire {
    /// Incoming messages, one item each.
    pub(super) frames: BoxStream<'static, Result<Bytes, ReadError>>,
    /// Outgoing messages.
    pub(super) writer: FrameWriter,
    /// The stdio server at the other end, if the session started one.
    pub(super) child: Option<Child>,
}

/// The sending side of a connection.
pub(super) enum FrameWriter {
    /// One message per line (TCP, a child's stdin).
    Lines(BufWriter<Box<dyn AsyncWrite + Send + Unpin>>),
    /// One message per text frame.
    WebSocket(SplitSink<WsStream, Message>),
}

impl FrameWriter {
    /// Queues one message; it is on the wire after [`FrameWriter::flush`] at the latest.
    pub(super) async fn feed(&mut self, message: Vec<u8>) -> Result<(), WireError> {
        match self {
            FrameWriter::Lines(w) => {
                w.write_all(&message).await?;
                w.write_all(b"\n").await?;
            }
            FrameWriter::WebSocket(sink) => {
                let frame = match String::from_utf8(message) {
                    Ok(text) => Message::Text(text.into()),
                    Err(e) => Message::Binary(e.into_bytes().into()),
                };
                sink.feed(frame).await?;
            }
        }
        Ok(())
    }

    /// Sends everything queued.
    pub(super) async fn flush(&mut self) -> Result<(), WireError> {
        match self {
            FrameWriter::Lines(w) => w.flush().await?,
            FrameWriter::WebSocket(sink) => sink.flush().await?,
        }
        Ok(())
    }

    /// Closes the sending side (a WebSocket close frame, a TCP half-close).
    pub(super) async fn close(&mut self) -> Result<(), WireError> {
        match self {
            FrameWriter::Lines(w) => w.shutdown().await?,
            FrameWriter::WebSocket(sink) => sink.close().await?,
        }
        Ok(())
    }
}

/// Read and write buffer of a WebSocket session. tungstenite's default of 128 KiB each
/// made a session cost 138 KiB of resident memory (1.3 GiB for 10,000 sessions); an MCP
/// message is usually far smaller, and a larger one takes more reads, not more memory.
const WEBSOCKET_BUFFER: usize = 8 * 1024;

/// Connects to a WebSocket MCP endpoint; frames larger than `max` end the session.
pub(super) async fn websocket(url: &url::Url, max: usize) -> Result<Wire, WireError> {
    let config = WebSocketConfig::default()
        .read_buffer_size(WEBSOCKET_BUFFER)
        .write_buffer_size(WEBSOCKET_BUFFER)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await?;
    let (sink, stream) = socket.split();
    let frames = stream
        .filter_map(|frame| {
            ready(match frame {
                Ok(Message::Text(text)) => Some(Ok(Bytes::from(text))),
                Ok(Message::Binary(bytes)) => Some(Ok(bytes)),
                Ok(Message::Close(_)) => Some(Err(ReadError::Closed)),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => None,
                Err(tungstenite::Error::Capacity(_)) => Some(Err(ReadError::TooLarge)),
                Err(_) => Some(Err(ReadError::Closed)),
            })
        })
        .boxed();
    Ok(Wire {
        frames,
        writer: FrameWriter::WebSocket(sink),
        child: None,
    })
}

/// Connects to a newline-delimited JSON-RPC server over TCP.
pub(super) async fn tcp(addr: std::net::SocketAddr, max: usize) -> Result<Wire, WireError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok(lines(read, Box::new(write), max, None))
}

/// Starts `command` as a stdio MCP server serving this session alone. It dies with the
/// harness (parent-death signal) and when the session is dropped.
pub(super) fn stdio(command: &StdioCommand, max: usize) -> Result<Wire, WireError> {
    let spawn_error = |source| WireError::Spawn {
        program: command.program.display().to_string(),
        source,
    };
    let stderr = match &command.stderr {
        None => Stdio::null(),
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(spawn_error)?,
        ),
    };
    let mut process = Command::new(&command.program);
    process
        .args(&command.args)
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    if let Some(dir) = &command.dir {
        process.current_dir(dir);
    }
    // SAFETY: prctl is async-signal-safe; it only sets the child's parent-death signal
    // so the server dies with the harness even if the harness is killed outright.
    unsafe {
        process.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    let mut child = process.spawn().map_err(spawn_error)?;
    if let Some(pid) = child.id() {
        command.live.add(pid);
    }
    let piped = || spawn_error(std::io::Error::other("standard streams not piped"));
    let stdin = child.stdin.take().ok_or_else(piped)?;
    let stdout = child.stdout.take().ok_or_else(piped)?;
    Ok(lines(stdout, Box::new(stdin), max, Some(child)))
}

fn lines(
    read: impl AsyncRead + Send + Unpin + 'static,
    write: Box<dyn AsyncWrite + Send + Unpin>,
    max: usize,
    child: Option<Child>,
) -> Wire {
    let frames = futures_util::stream::unfold(
        Some((BufReader::new(read), BytesMut::new())),
        move |state| async move {
            let (mut reader, mut line) = state?;
            match read_line(&mut reader, &mut line, max).await {
                Ok(Some(message)) => Some((Ok(message), Some((reader, line)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        },
    )
    .boxed();
    Wire {
        frames,
        writer: FrameWriter::Lines(BufWriter::new(write)),
        child,
    }
}

/// Reads one line (without its `\n`) into `line` and returns it, never holding more
/// than `max` bytes. `None` at the end of input.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, ReadError> {
    loop {
        let available = reader.fill_buf().await.map_err(|_| ReadError::Closed)?;
        if available.is_empty() {
            // A last line without a newline still counts.
            return Ok((!line.is_empty()).then(|| line.split().freeze()));
        }
        let (take, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (end, true),
            None => (available.len(), false),
        };
        if line.len() + take > max {
            return Err(ReadError::TooLarge);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take + usize::from(complete));
        if complete {
            return Ok(Some(line.split().freeze()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_and_bounded() {
        let input: &[u8] = b"{\"a\":1}\r\n\n{\"b\":2}\nlast";
        let mut reader = BufReader::with_capacity(4, input);
        let mut line = BytesMut::new();
        let mut got = Vec::new();
        while let Some(l) = read_line(&mut reader, &mut line, 64).await.unwrap() {
            got.push(l);
        }
        assert_eq!(got, ["{\"a\":1}\r", "", "{\"b\":2}", "last"]);

        let mut reader = BufReader::with_capacity(4, &b"0123456789\n"[..]);
        assert_eq!(
            read_line(&mut reader, &mut BytesMut::new(), 8).await,
            Err(ReadError::TooLarge)
        );
    }
}
