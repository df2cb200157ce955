//! Guard against aiming load at something that is not ours: only loopback targets unless
//! explicitly allowed. Checked before any connection is attempted.

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
    #[error("unsupported scheme in {url}: only http is supported")]
    Scheme { url: String },
}

/// Accepts `http` URLs whose host is `localhost` or a loopback IP literal. Names other than
/// `localhost` are refused without resolving them.
pub fn check_loopback(url: &url::Url) -> Result<(), TargetError> {
    if url.scheme() != "http" {
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
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
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
        ] {
            assert!(check_loopback(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/mcp",
            "http://example.com/mcp",
            "http://[2001:db8::1]/",
            "http://0.0.0.0/",
        ] {
            let err = check_loopback(&bad.parse().unwrap()).unwrap_err();
            assert!(err.to_string().contains("not a loopback"), "{bad}: {err}");
        }
        assert!(matches!(
            check_loopback(&"https://127.0.0.1/".parse().unwrap()),
            Err(TargetError::Scheme { .. })
        ));
    }
}
