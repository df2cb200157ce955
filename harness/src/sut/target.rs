//! Guard against aiming load at something that is not ours: only loopback targets unless
//! explicitly allowed. Checked before any connection is attempted. And the MCP endpoint a
//! target URL names, by its scheme.

use std::net::IpAddr;

/// A load target that is not allowed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "refusing to send load to {url}: {host} is not a loopback address (pass --allow-remote to allow it)"
    )]
    NotLoopback { url: String, host: String },
    #[error("refusing to send load to {url}: it has no host")]
    NoHost { url: String },
    #[error("unsupported scheme in {url}: expected http://, ws:// or tcp://")]
    Scheme { url: String },
    #[error("{url} names no port")]
    NoPort { url: String },
}

/// The MCP endpoint `url` names: Streamable HTTP (`http://`), WebSocket (`ws://`) or
/// newline-delimited JSON-RPC over TCP (`tcp://host:port`).
pub fn endpoint_of(url: &url::Url) -> Result<crate::mcp::Endpoint, TargetError> {
    use crate::mcp::Endpoint;
    match url.scheme() {
        "http" => Ok(Endpoint::Http(url.clone())),
        "ws" => Ok(Endpoint::WebSocket(url.clone())),
        "tcp" => {
            let no_port = || TargetError::NoPort {
                url: url.to_string(),
            };
            url.port().ok_or_else(no_port)?;
            url.socket_addrs(|| None)
                .ok()
                .and_then(|addrs| addrs.first().copied())
                .map(Endpoint::Tcp)
                .ok_or_else(no_port)
        }
        _ => Err(TargetError::Scheme {
            url: url.to_string(),
        }),
    }
}

/// Accepts `http`, `ws` and `tcp` URLs whose host is `localhost` or a loopback IP literal.
/// Names other than `localhost` are refused without resolving them.
pub fn check_loopback(url: &url::Url) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "ws" | "tcp") {
        return Err(TargetError::Scheme {
            url: url.to_string(),
        });
    }
    let loopback = match url.host() {
        None => {
            return Err(TargetError::NoHost {
                url: url.to_string(),
            });
        }
        // A `tcp://` URL's host is opaque to the url crate: an IP literal reads as a name.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
    };
    if loopback {
        Ok(())
    } else {
        Err(TargetError::NotLoopback {
            url: url.to_string(),
            host: url.host_str().unwrap_or_default().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_passes() {
        for ok in [
            "http://127.0.0.1:1/mcp",
            "http://127.8.0.1/mcp",
            "http://[::1]:9/mcp",
            "http://LOCALHOST:1/",
            "ws://127.0.0.1:1/mcp/ws",
            "tcp://127.0.0.1:9",
            "tcp://[::1]:9",
        ] {
            assert!(check_loopback(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/mcp",
            "http://example.com/mcp",
            "http://[2001:db8::1]/",
            "http://0.0.0.0/",
            "tcp://10.0.0.1:9",
        ] {
            let err = check_loopback(&bad.parse().unwrap()).unwrap_err();
            assert!(err.to_string().contains("not a loopback"), "{bad}: {err}");
        }
        assert!(matches!(
            check_loopback(&"https://127.0.0.1/".parse().unwrap()),
            Err(TargetError::Scheme { .. })
        ));
    }

    #[test]
    fn the_scheme_names_the_transport() {
        let of = |u: &str| endpoint_of(&u.parse().unwrap()).map(|e| e.transport());
        assert_eq!(of("http://127.0.0.1:1/mcp").unwrap(), "http");
        assert_eq!(of("ws://127.0.0.1:1/mcp/ws").unwrap(), "websocket");
        assert_eq!(of("tcp://127.0.0.1:9").unwrap(), "tcp");
        assert!(matches!(
            of("tcp://127.0.0.1"),
            Err(TargetError::NoPort { .. })
        ));
        assert!(matches!(
            of("wss://127.0.0.1:1/"),
            Err(TargetError::Scheme { .. })
        ));
    }
}
