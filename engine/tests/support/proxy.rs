//! A TCP proxy in front of a shared server (RabbitMQ, NATS, PostgreSQL) that a test can cut and restore:
//! the server out of reach for the relais under test alone, in the middle of a stream of messages, without
//! stopping the server the other tests share.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A running proxy on a free loopback port. Cut, every open connection is dropped and new ones are closed
/// as soon as they are accepted (the client sees a server that went away, not one that hangs); restored,
/// new connections reach the server again.
pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accepting: tokio::task::AbortHandle,
}

impl Proxy {
    /// Starts forwarding every connection to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (is_open, held, upstream) = (open.clone(), connections.clone(), upstream.to_string());
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { break };
                if !is_open.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Proxy { addr, open, connections, accepting }
    }

    /// Takes the server out of reach: every open connection dropped, new ones closed at once.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    /// Brings the server back: new connections reach it again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    /// Stops listening and drops what is open, so a finished test leaves no connection to a shared server.
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}
