//! A TCP proxy a test can cut and restore, to take a database away from Qicoo
//! without stopping the server other tests share.
//!
//! Two ways to fail: [`Proxy::cut`] refuses new connections and breaks the open
//! ones (a server that went away); [`Proxy::black_hole`] accepts connections
//! and holds every byte without an answer (a network partition, or a server
//! that hangs), which only a client with its own deadlines survives. After
//! [`Proxy::restore`] a black hole forwards what it held, as a healed network
//! would: what a client sent before it gave up arrives, then its close.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards a local port to `target` while it is up.
pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// False while black-holed: nothing is forwarded either way.
    flowing: watch::Sender<bool>,
    /// True while cut: nothing listens on `addr`.
    refusing: Mutex<bool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let proxy = Self {
            addr,
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
            flowing: watch::channel(true).0,
            refusing: Mutex::new(false),
        };
        proxy.accept(listener);
        proxy
    }

    /// A proxy in front of the host and port of a `scheme://user@host:port/…`
    /// URL, and that URL rewritten to go through it.
    pub async fn in_front_of(url: &str) -> (Self, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let authority = rest.split('/').next().expect("authority");
        let host_port = authority.rsplit('@').next().expect("host:port");
        let target: SocketAddr = host_port
            .replace("localhost", "127.0.0.1")
            .parse()
            .expect("a numeric host:port");
        let proxy = Self::start(target).await;
        let through = format!(
            "{scheme}://{}",
            rest.replacen(host_port, &proxy.addr.to_string(), 1)
        );
        (proxy, through)
    }

    fn accept(&self, listener: TcpListener) {
        let target = self.target;
        let tasks = self.tasks.clone();
        let flowing = self.flowing.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut flowing = flowing.subscribe();
                let connection = tokio::spawn(async move {
                    // A black hole does not even pass the connection on.
                    if flowing.wait_for(|f| *f).await.is_err() {
                        return;
                    }
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pump(in_read, out_write, flowing.clone()),
                        pump(out_read, in_write, flowing),
                    );
                });
                tasks.lock().expect("lock").push(connection);
            }
        });
        self.tasks.lock().expect("lock").push(acceptor);
    }

    /// Refuses new connections and breaks the open ones.
    pub fn cut(&self) {
        *self.refusing.lock().expect("lock") = true;
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Accepts connections but forwards nothing, either way, until restored.
    pub fn black_hole(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again: listens again on the same port after a cut, passes on
    /// what a black hole held.
    pub async fn restore(&self) {
        let relisten = std::mem::replace(&mut *self.refusing.lock().expect("lock"), false);
        if relisten {
            let listener = TcpListener::bind(self.addr).await.expect("rebind");
            self.accept(listener);
        }
        self.flowing.send_replace(true);
    }
}

/// Copies `from` to `to` while the proxy is flowing; closes `to` at the end.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut flowing: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if flowing.wait_for(|f| *f).await.is_err() {
            break;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            paused = flowing.wait_for(|f| !*f) => {
                if paused.is_err() {
                    break;
                }
                continue;
            }
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
