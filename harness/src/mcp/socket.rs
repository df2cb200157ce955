//! A client TCP socket that reads either on the reactor (woken when bytes arrive) or on
//! the worker's ticks ([`super::ticks`]), and reports when the bytes it reads arrived.
//!
//! A socket registered for readability wakes the runtime's thread for every answer even
//! when nobody waits for it, so a socket that reads on ticks is registered for
//! writability only; it changes registration when it changes how it reads.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::ticks;

/// Reads in a row without a receive stamp after which a socket reads on the reactor.
const UNSTAMPED_LIMIT: u8 = 16;
/// A socket that had to read on the reactor stays registered for readability until its
/// reads come this far apart. Changing a registration costs two system calls: a busy
/// connection whose session is contended every other request would otherwise change it
/// that often, while one that goes quiet goes back to waiting for ticks.
const CALM_AFTER: Duration = Duration::from_millis(5);

/// A connected, non-blocking TCP socket.
#[derive(Debug)]
pub(super) struct Socket {
    /// `None` only if re-registering it failed (the socket is then closed).
    fd: Option<AsyncFd<std::net::TcpStream>>,
    /// Whether it is registered for readability (it reads on the reactor).
    on_reactor: bool,
    /// Whether the kernel stamps what it receives; a socket without stamps never reads
    /// on ticks, which would add up to a tick to every latency.
    stamps: bool,
    /// Reads in a row that got bytes without a stamp.
    unstamped: u8,
    /// A request went out and nothing was read since: its answer cannot be here yet, so
    /// the first read waits (for a tick, or for the reactor) without a system call.
    sent: bool,
    /// When a read last waited on the reactor.
    last_on_reactor: Option<Instant>,
}

impl Socket {
    /// Connects to `addr` with Nagle's algorithm off and receive stamps on.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let stream = stream.into_std()?;
        let stamps = enable_stamps(&stream).is_ok();
        let on_reactor = !stamps || ticks::current().is_none();
        Ok(Self {
            fd: Some(register(stream, on_reactor)?),
            on_reactor,
            stamps,
            unstamped: 0,
            sent: false,
            last_on_reactor: None,
        })
    }

    fn fd(&self) -> io::Result<&AsyncFd<std::net::TcpStream>> {
        self.fd.as_ref().ok_or_else(lost)
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        self.sent = true;
        let fd = self.fd()?;
        while !bytes.is_empty() {
            match fd.get_ref().write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    fd.writable().await?.clear_ready();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The worker's ticks to read on, if this task has them and the socket can (a socket
    /// without receive stamps always reads on the reactor: on ticks it would add up to a
    /// tick to every latency).
    pub fn ticks(&self) -> Option<std::sync::Arc<ticks::Ticks>> {
        if self.stamps { ticks::current() } else { None }
    }

    /// Whether a request went out since the last read (and clears that).
    pub fn take_sent(&mut self) -> bool {
        std::mem::take(&mut self.sent)
    }

    /// Reads into `buf`'s spare capacity (which must not be empty) without waiting; 0 at
    /// the end of the stream. Notes when the bytes arrived for the current request
    /// ([`ticks::stamped`]).
    pub fn receive(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let (n, stamp) = receive(self.fd()?.get_ref(), buf)?;
        if n > 0 {
            match stamp {
                Some(at) => {
                    ticks::arrived(at);
                    self.unstamped = 0;
                }
                None => {
                    ticks::arrived(Instant::now());
                    // The kernel turns stamping on a little after it is first asked for
                    // (a deferred switch), so the first answers can come unstamped; if
                    // they keep coming so, read on the reactor from now on.
                    self.unstamped = self.unstamped.saturating_add(1);
                    if self.unstamped >= UNSTAMPED_LIMIT {
                        self.stamps = false;
                    }
                }
            }
        }
        Ok(n)
    }

    /// Waits until the reactor says the socket is readable.
    pub async fn readable(&mut self) -> io::Result<()> {
        self.register(true)?;
        self.fd()?.readable().await?.clear_ready();
        Ok(())
    }

    /// Whether the peer has neither closed the connection nor sent anything unasked
    /// (a look at the receive queue, without waiting).
    pub fn is_quiet(&self) -> bool {
        let Ok(fd) = self.fd() else {
            return false;
        };
        let mut probe = 0u8;
        // SAFETY: peeks at most one byte into a valid one-byte buffer of our socket.
        let n = unsafe {
            libc::recv(
                fd.get_ref().as_raw_fd(),
                (&raw mut probe).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }

    /// Decides where the next read waits: `true` for the reactor. A socket that must
    /// read on the reactor registers for readability at once and stays so registered
    /// (reading on the reactor) while its reads come less than [`CALM_AFTER`] apart, so
    /// its registration does not flap with its session's contention.
    pub fn settle(&mut self, on_reactor: bool, now: Instant) -> io::Result<bool> {
        let busy = self
            .last_on_reactor
            .is_some_and(|t| now.saturating_duration_since(t) < CALM_AFTER);
        let on_reactor = on_reactor || (self.on_reactor && busy);
        if on_reactor {
            self.last_on_reactor = Some(now);
        }
        self.register(on_reactor)?;
        Ok(self.on_reactor)
    }

    /// Registers the socket for readability (`on_reactor`) or for writability only.
    fn register(&mut self, on_reactor: bool) -> io::Result<()> {
        if self.on_reactor == on_reactor {
            return Ok(());
        }
        let stream = self.fd.take().ok_or_else(lost)?.into_inner();
        self.fd = Some(register(stream, on_reactor)?);
        self.on_reactor = on_reactor;
        Ok(())
    }
}

/// Registers `stream` with the reactor for readability and writability, or writability
/// only.
fn register(
    stream: std::net::TcpStream,
    on_reactor: bool,
) -> io::Result<AsyncFd<std::net::TcpStream>> {
    let interest = if on_reactor {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::WRITABLE
    };
    // SAFETY: the stream is moved into the AsyncFd, which owns its descriptor (open, the
    // same one) until it is dropped or taken back with `into_inner`.
    unsafe { AsyncFd::register_with_interest(stream, interest) }.map_err(|e| e.into_parts().1)
}

fn lost() -> io::Error {
    io::Error::other("the connection was lost when its registration changed")
}

/// Asks the kernel to stamp received packets with their arrival time.
fn enable_stamps(stream: &std::net::TcpStream) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: sets an int socket option from a valid int on our own socket.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One non-blocking `recvmsg` into `buf`'s spare capacity: the bytes read and, when the
/// kernel stamped them, when the last of them arrived.
fn receive(
    stream: &std::net::TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<(usize, Option<Instant>)> {
    let spare = buf.spare_capacity_mut();
    debug_assert!(!spare.is_empty(), "a read needs room");
    let mut iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    // Room for one `cmsghdr` and a `timespec`, aligned for both.
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: reads into the spare capacity described by `iov`, and control data into
    // `control`, both valid for their lengths.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    let mut stamp = None;
    // SAFETY: walks the control messages the kernel wrote into `control`, as `msg`
    // describes them; a timestamp's data is a `timespec`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                stamp = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((n, stamp.map(monotonic)))
}

/// The monotonic time of a wall-clock stamp from the recent past.
fn monotonic(stamp: SystemTime) -> Instant {
    let now = Instant::now();
    match SystemTime::now().duration_since(stamp) {
        Ok(age) => now.checked_sub(age).unwrap_or(now),
        // A stamp from the future: the wall clock was set back since.
        Err(_) => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registration_goes_to_the_reactor_at_once_and_back_only_once_calm() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut socket = Socket::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        // Connected outside a worker: on the reactor, but the first read that could
        // wait for ticks does.
        let t0 = Instant::now();
        assert!(socket.on_reactor);
        assert!(!socket.settle(false, t0).unwrap());
        // Forced onto the reactor (a request queued for the connection), it stays there
        // while reads that could use ticks come less than the calm time apart, however
        // long that goes on.
        assert!(socket.settle(true, t0).unwrap());
        let step = CALM_AFTER * 3 / 5;
        for k in 1..=4 {
            assert!(socket.settle(false, t0 + step * k).unwrap(), "read {k}");
        }
        // Once its reads are that far apart, it goes back.
        assert!(!socket.settle(false, t0 + step * 4 + CALM_AFTER).unwrap());
        assert!(!socket.on_reactor);
    }
}
