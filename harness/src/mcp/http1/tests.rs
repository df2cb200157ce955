//! The connection against canned answers: every framing, split anywhere, several answers
//! on one connection, and the ways an answer can be broken.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server that answers each request (read up to its blank line and body) with the next
/// of `answers`, written in pieces of `piece` bytes.
async fn serve(answers: Vec<&'static [u8]>, piece: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        for answer in answers {
            // Wait for one whole request: head plus `content-length` bytes.
            loop {
                if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if seen.len() >= end + 4 + len {
                        seen.drain(..end + 4 + len);
                        break;
                    }
                }
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            for part in answer.chunks(piece) {
                socket.write_all(part).await.unwrap();
                socket.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    });
    addr
}

async fn exchange(conn: &mut Conn) -> Result<(Head, Vec<u8>), HttpError> {
    conn.request_buffer()
        .extend_from_slice(b"POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}");
    conn.send().await?;
    let head = conn.read_head().await?;
    let mut framing = head.framing;
    let mut body = Vec::new();
    while let Some(piece) = conn.body_chunk(&mut framing).await? {
        body.extend_from_slice(piece);
    }
    Ok((head, body))
}

const LENGTH: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nMcp-Session-Id: abc-1\r\n\r\n{\"a\":1}";
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\ndata:\r\n7;ext=1\r\n {\"b\":2\r\n1\r\n}\r\n0\r\nx-trailer: 1\r\n\r\n";

#[tokio::test]
async fn length_and_chunked_bodies_are_read_whole_and_the_connection_kept() {
    for piece in [1, 3, 4096] {
        let addr = serve(vec![LENGTH, CHUNKED, LENGTH], piece).await;
        let mut conn = Conn::open(addr).await.unwrap();
        let (head, body) = exchange(&mut conn).await.unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.kind, ContentKind::Json);
        assert_eq!(head.session_id.as_deref(), Some("abc-1"));
        assert!(head.keep_alive);
        assert_eq!(body, b"{\"a\":1}", "piece {piece}");
        let (head, body) = exchange(&mut conn).await.unwrap();
        assert_eq!(head.kind, ContentKind::EventStream);
        assert_eq!(body, b"data: {\"b\":2}", "piece {piece}");
        let (_, body) = exchange(&mut conn).await.unwrap();
        assert_eq!(body, b"{\"a\":1}", "a third answer on the same connection");
    }
}

#[tokio::test]
async fn a_length_body_is_one_slice_and_interim_answers_are_skipped() {
    let answer: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
    let addr = serve(vec![answer], 2).await;
    let mut conn = Conn::open(addr).await.unwrap();
    conn.request_buffer()
        .extend_from_slice(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    conn.send().await.unwrap();
    let head = conn.read_head().await.unwrap();
    assert_eq!(head.status, 200);
    let mut framing = head.framing;
    assert_eq!(conn.body_exact(&mut framing).await.unwrap(), b"{\"a\":1}");
    assert_eq!(framing, Framing::Done);
    assert!(conn.finish_buffered(&mut framing).unwrap());
}

#[tokio::test]
async fn a_body_until_close_and_connection_close_end_keep_alive() {
    let until_close: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{\"c\":3}";
    let addr = serve(vec![until_close], 3).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let (head, body) = exchange(&mut conn).await.unwrap();
    assert!(!head.keep_alive);
    assert_eq!(body, b"{\"c\":3}");

    let close: &[u8] = b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
    let addr = serve(vec![close], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let (head, body) = exchange(&mut conn).await.unwrap();
    assert_eq!((head.status, head.keep_alive, body.len()), (503, false, 0));
}

#[tokio::test]
async fn broken_answers_are_errors_not_hangs() {
    let cases: [(&[u8], &str); 4] = [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "malformed"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{\"a\"",
            "closed",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            "malformed",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "malformed",
        ),
    ];
    for (answer, want) in cases {
        let addr = serve(vec![answer], 4096).await;
        let mut conn = Conn::open(addr).await.unwrap();
        let error = exchange(&mut conn).await.unwrap_err();
        let got = match error {
            HttpError::Malformed => "malformed",
            HttpError::Closed | HttpError::Io(_) => "closed",
        };
        assert_eq!(got, want, "{}", String::from_utf8_lossy(answer));
    }
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_reusable() {
    let addr = serve(vec![LENGTH], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    exchange(&mut conn).await.unwrap();
    assert!(
        conn.reusable(),
        "answer read to the end, server still there"
    );
    // The fake server closes after its last answer; once the reactor has seen it, the
    // connection is no longer offered for reuse.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while conn.reusable() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(!conn.reusable());
}

#[tokio::test]
async fn bytes_left_after_an_answer_make_the_connection_unusable() {
    let extra: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}junk";
    let addr = serve(vec![extra], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    exchange(&mut conn).await.unwrap();
    assert!(
        !conn.reusable(),
        "leftover bytes would be read as the next answer"
    );
}

#[tokio::test]
async fn framing_edge_cases() {
    // An empty chunk-size line is malformed, not the end of the body.
    let empty_size: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let addr = serve(vec![empty_size], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    assert!(matches!(
        exchange(&mut conn).await,
        Err(HttpError::Malformed)
    ));

    // A coding other than chunked last: read until close, whatever the length says.
    let gzip: &[u8] =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 2\r\n\r\nabcd";
    let addr = serve(vec![gzip], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let (head, body) = exchange(&mut conn).await.unwrap();
    assert!(!head.keep_alive);
    assert_eq!(body, b"abcd");

    // Chunked and a length together: chunked wins, the connection is not kept.
    let both: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 99\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let addr = serve(vec![both], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let (head, body) = exchange(&mut conn).await.unwrap();
    assert!(!head.keep_alive);
    assert_eq!(body, b"{}");

    // Nothing asks to switch protocols.
    let switch: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n";
    let addr = serve(vec![switch], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    assert!(matches!(
        exchange(&mut conn).await,
        Err(HttpError::Malformed)
    ));
}

#[tokio::test]
async fn an_unprintable_session_id_is_ignored() {
    let answer: &[u8] =
        b"HTTP/1.1 200 OK\r\nmcp-session-id: a b\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
    let addr = serve(vec![answer], 4096).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let (head, _) = exchange(&mut conn).await.unwrap();
    assert_eq!(head.session_id, None);
}

/// A small JSON answer.
const SMALL: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/// Counts the wake-ups of a task polled by hand.
struct Wakes(std::sync::atomic::AtomicUsize);

impl futures_util::task::ArcWake for Wakes {
    fn wake_by_ref(wakes: &std::sync::Arc<Self>) {
        wakes.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Wakes {
    /// A waker that counts its wake-ups, and the count.
    fn waker() -> (std::task::Waker, std::sync::Arc<Wakes>) {
        let wakes = std::sync::Arc::new(Wakes(0.into()));
        (futures_util::task::waker(wakes.clone()), wakes)
    }

    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn on_ticks_an_answer_wakes_nobody_and_keeps_the_time_it_arrived() {
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use super::super::ticks::{Ticks, stamped};

    let addr = serve(vec![SMALL, SMALL, SMALL], usize::MAX).await;
    let mut conn = Conn::open(addr).await.unwrap();
    // Linux turns receive stamps on for the whole system a moment after the first socket
    // asks (a deferred static key): in a process whose first socket this is, an answer that
    // arrives within that moment is stamped when read. One exchange and a pause first.
    let (head, _) = exchange(&mut conn).await.unwrap();
    assert_eq!(head.status, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ticks = Arc::new(Ticks::default());
    let (waker, wakes) = Wakes::waker();
    let mut cx = Context::from_waker(&waker);
    let sent = Instant::now();
    let mut request = Box::pin(Ticks::scope(ticks.clone(), stamped(exchange(&mut conn))));
    // The request goes out and its read waits for a tick, without a system call.
    assert!(request.as_mut().poll(&mut cx).is_pending());
    assert!(ticks.any_parked());
    // The answer comes and goes unread: nothing wakes the task.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(wakes.count(), 0, "an answer woke the task");
    let tick = Instant::now();
    assert_eq!(ticks.tick(), 1);
    assert_eq!(wakes.count(), 1);
    let Poll::Ready((answer, arrived)) = request.as_mut().poll(&mut cx) else {
        panic!("the answer was not read on the tick");
    };
    let (head, body) = answer.unwrap();
    assert_eq!((head.status, body.as_slice()), (200, &b"{}"[..]));
    // The kernel's stamp: when the answer arrived, long before it was read.
    let arrived = arrived.expect("an arrival time");
    // The stamp is the kernel's wall clock turned into an `Instant` by an offset read at
    // another moment, so it may read a little before a send that preceded it; a full test
    // run saw "arrived before it was sent" once. Within a millisecond is the same instant.
    assert!(
        arrived + Duration::from_millis(1) >= sent,
        "arrived {:?} before it was sent",
        sent - arrived
    );
    assert!(
        arrived + Duration::from_millis(100) < tick,
        "timed when read ({:?} after sending), not when it arrived",
        arrived - sent
    );
    drop(request);
    // Outside a worker's ticks, the same connection reads on the reactor again.
    let (head, _) = exchange(&mut conn).await.unwrap();
    assert_eq!(head.status, 200);
}

#[tokio::test]
async fn a_read_on_ticks_stops_waiting_when_a_request_queues_for_the_connection() {
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use super::super::ticks::{Ticks, stamped};
    use super::super::waiting::Waiting;

    let addr = serve(vec![SMALL], usize::MAX).await;
    let mut conn = Conn::open(addr).await.unwrap();
    let waiting = Arc::new(Waiting::default());
    conn.watch(waiting.clone());
    let ticks = Arc::new(Ticks::default());
    let (waker, wakes) = Wakes::waker();
    let mut cx = Context::from_waker(&waker);
    let mut request = Box::pin(Ticks::scope(ticks.clone(), stamped(exchange(&mut conn))));
    assert!(request.as_mut().poll(&mut cx).is_pending());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(wakes.count(), 0);
    // Another request of the session now waits for this connection: the read goes on
    // without waiting for the worker's tick.
    let _queued = waiting.join();
    assert_eq!(wakes.count(), 1);
    let Poll::Ready((answer, arrived)) = request.as_mut().poll(&mut cx) else {
        panic!("the read still waits for a tick");
    };
    assert_eq!(answer.unwrap().0.status, 200);
    assert!(arrived.is_some());
    assert!(ticks.tick() <= 1, "a read left behind on the ticks");
}
