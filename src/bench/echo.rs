//! The minimal HTTP endpoint of the generator benchmark (`erlmcp-perf bench-echo`): a tiny
//! hyper server on one thread that answers every POST with a fixed small JSON-RPC result
//! echoing the request's id, so an MCP client accepts it (its `initialize` result carries a
//! protocol version) and plain HTTP tools get the same bytes. A notification (no id) gets
//! `202 Accepted`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the endpoint prints once it accepts connections, followed by its URL.
pub const READY_PREFIX: &str = "erlmcp-perf echo listening on ";
/// Largest request body read.
const MAX_BODY: usize = 64 * 1024;

/// Serves until killed, on a single-threaded runtime.
pub fn serve(bind: SocketAddr) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // A generator past its capacity opens a connection per request in flight.
    harness::load::raise_open_files_limit();
    runtime.block_on(async {
        let listener = TcpListener::bind(bind).await?;
        println!("{READY_PREFIX}http://{}/mcp", listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, a connection reset before it was accepted: the
                    // endpoint must outlive a flood, so wait a little and go on.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            // Latency matters more than the flag: a socket that refuses it still serves.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                // A connection the client drops mid-request is no concern of the endpoint.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    })
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    Ok(match request_id(&body) {
        Some(id) => {
            let mut response = Response::new(Full::new(reply(id)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        None => status(StatusCode::ACCEPTED),
    })
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// The raw JSON of the request's `id`, if it has one.
fn request_id(body: &[u8]) -> Option<&[u8]> {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    message.id.map(|id| id.get().as_bytes())
}

/// The fixed result, with `id` spliced in.
fn reply(id: &[u8]) -> Bytes {
    const HEAD: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
    const TAIL: &[u8] = br#","result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"echo","version":"1"},"content":[{"type":"text","text":"42"}]}}"#;
    let mut out = Vec::with_capacity(HEAD.len() + id.len() + TAIL.len());
    out.extend_from_slice(HEAD);
    out.extend_from_slice(id);
    out.extend_from_slice(TAIL);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_echo_the_id_and_notifications_have_none() {
        let body = br#"{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{}}"#;
        let id = request_id(body).unwrap();
        let reply: serde_json::Value = serde_json::from_slice(&reply(id)).unwrap();
        assert_eq!(reply["id"], 17);
        assert_eq!(reply["result"]["protocolVersion"], "2025-06-18");
        let string_id = br#"{"id":"a-1","method":"x"}"#;
        assert_eq!(request_id(string_id), Some(&br#""a-1""#[..]));
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(request_id(b"not json"), None);
    }
}
