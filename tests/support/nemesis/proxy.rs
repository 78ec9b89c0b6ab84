//! A TCP proxy between one service and NATS or PostgreSQL that can be told to misbehave:
//! delay every chunk, stall (a partition that heals before TCP gives up), drop every
//! connection with FIN, or reset them with RST.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How the link behaves until it is told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Healthy,
    /// Every chunk in either direction waits this long.
    Delayed(Duration),
    /// Nothing moves and new connections hang; bytes wait in the proxy until the link heals.
    Blackhole,
    /// Every open connection is closed and new ones are closed as soon as they arrive.
    Down,
}

/// Ends of connections ordered from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Closes with FIN, as a peer that went away cleanly.
    Close,
    /// Closes with RST, as a middlebox or a crashed host.
    Reset,
}

pub struct Proxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    /// Bumped with the kind of cut each time open connections are to be ended.
    cut: watch::Sender<(u64, Cut)>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (link, _) = watch::channel(Link::Healthy);
        let (cut, _) = watch::channel((0, Cut::Close));
        let shared = Arc::new((link.subscribe(), cut.subscribe()));
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let (link, cut) = (shared.0.clone(), shared.1.clone());
                tokio::spawn(connection(client, upstream, link, cut));
            }
        });
        Self {
            addr,
            link,
            cut,
            task,
        }
    }

    /// Where the service connects instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
        if link == Link::Down {
            self.end_all(Cut::Close);
        }
    }

    /// Resets every open connection once; the link stays as it is.
    pub fn reset_all(&self) {
        self.end_all(Cut::Reset);
    }

    fn end_all(&self, how: Cut) {
        self.cut.send_modify(|(n, kind)| {
            *n += 1;
            *kind = how;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut link: watch::Receiver<Link>,
    mut cut: watch::Receiver<(u64, Cut)>,
) {
    cut.mark_unchanged();
    // A new connection waits out a blackhole and is refused while the link is down.
    loop {
        match *link.borrow_and_update() {
            Link::Down => return,
            Link::Blackhole => {}
            _ => break,
        }
        if link.changed().await.is_err() {
            return;
        }
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client, mut server) = (client, server);
    let how = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        tokio::select! {
            _ = pump(cr, sw, link.clone()) => None,
            _ = pump(sr, cw, link.clone()) => None,
            how = cut.changed() => how.ok().map(|_| cut.borrow().1),
        }
    };
    if how == Some(Cut::Reset) {
        for stream in [&client, &server] {
            // Linger zero makes close send RST instead of FIN.
            let _ = socket_linger_zero(stream);
        }
        // Dropped without shutdown: close sends RST and nothing else.
        return;
    }
    let _ = client.shutdown().await;
    let _ = server.shutdown().await;
}

/// Copies one direction, holding each chunk while the link is blackholed or delayed.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut link: watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        loop {
            let state = *link.borrow_and_update();
            match state {
                Link::Healthy => break,
                Link::Delayed(d) => {
                    tokio::time::sleep(d).await;
                    break;
                }
                Link::Down => return,
                Link::Blackhole => {
                    if link.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn socket_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    // A zero linger never blocks on close, unlike the other SO_LINGER settings.
    stream.set_zero_linger()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that echoes what it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream, within: Duration) -> std::io::Result<Option<usize>> {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Ok(read) => read.map(Some),
            Err(_) => Ok(None),
        }
    }

    const SHORT: Duration = Duration::from_millis(300);
    const LONG: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_healthy_link_passes_bytes_both_ways() {
        let proxy = Proxy::start(echo().await).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut s, LONG).await.unwrap(), Some(4));
    }

    #[tokio::test]
    async fn a_blackhole_holds_bytes_until_it_heals() {
        let proxy = Proxy::start(echo().await).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut s, LONG).await.unwrap(), Some(4));
        proxy.set(Link::Blackhole);
        assert_eq!(
            round_trip(&mut s, SHORT).await.unwrap(),
            None,
            "nothing moves"
        );
        proxy.set(Link::Healthy);
        let mut buf = [0u8; 4];
        let n = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        assert_eq!(n.unwrap(), 4, "the held bytes arrive after the heal");
    }

    #[tokio::test]
    async fn a_delayed_link_is_slow_but_whole() {
        let proxy = Proxy::start(echo().await).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set(Link::Delayed(Duration::from_millis(200)));
        let started = tokio::time::Instant::now();
        assert_eq!(round_trip(&mut s, LONG).await.unwrap(), Some(4));
        // One delay each way.
        assert!(started.elapsed() >= Duration::from_millis(400));
    }

    #[tokio::test]
    async fn a_down_link_closes_open_and_new_connections() {
        let proxy = Proxy::start(echo().await).await;
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open, LONG).await.unwrap(), Some(4));
        proxy.set(Link::Down);
        let mut buf = [0u8; 4];
        let n = tokio::time::timeout(LONG, open.read(&mut buf))
            .await
            .unwrap();
        assert_eq!(n.unwrap(), 0, "the open connection sees end of stream");
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        let n = tokio::time::timeout(LONG, new.read(&mut buf))
            .await
            .unwrap();
        assert_eq!(n.unwrap(), 0, "a new connection is closed at once");
    }

    #[tokio::test]
    async fn a_reset_ends_open_connections_with_rst() {
        let proxy = Proxy::start(echo().await).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut s, LONG).await.unwrap(), Some(4));
        proxy.reset_all();
        let mut buf = [0u8; 4];
        let read = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        let err = read.expect_err("a reset is an error, not an end of stream");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        // The link itself is fine: the next connection works.
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, LONG).await.unwrap(), Some(4));
    }
}
