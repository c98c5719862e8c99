//! A TCP proxy between tokenmint and PostgreSQL that can lose the database's answers: what a
//! failover, a network partition or a dying primary does to a statement in flight — it
//! reaches the server and commits, and its answer never comes back.
//!
//! Only the answers to statements being *executed* are lost: a chunk the client sends that
//! starts with a Bind message (`B`: sqlx binds and executes a prepared statement in one write)
//! arms the loss on its connection; anything else (start-up, Parse/Describe, a simple query)
//! disarms it. So a statement that was never prepared on the connection still gets prepared,
//! and its execution — the part that writes — loses its answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A proxy on a port of its own, forwarding to `upstream`.
pub struct DbProxy {
    pub port: u16,
    /// While set, what the database answers to an execution is read and thrown away (what the
    /// client sends still reaches it).
    lose_answers: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl DbProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let lose_answers = Arc::new(AtomicBool::new(false));
        let lose = Arc::clone(&lose_answers);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let lose = Arc::clone(&lose);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, lose).await;
                    }
                });
            }
        });
        Self {
            port,
            lose_answers,
            accept,
        }
    }

    /// `url` (a PostgreSQL URL on 127.0.0.1, without parameters) through this proxy, without
    /// TLS (the proxy reads which messages the client sends).
    pub fn url(&self, url: &str) -> String {
        let (head, rest) = url.split_once("@127.0.0.1:").expect("a URL on 127.0.0.1");
        let (_, path) = rest.split_once('/').expect("a database name");
        format!("{head}@127.0.0.1:{}/{path}?sslmode=disable", self.port)
    }

    /// From now on, the database's answers are lost.
    pub fn lose_answers(&self) {
        self.lose_answers.store(true, Ordering::SeqCst);
    }

    /// From now on, answers get through again.
    pub fn heal(&self) {
        self.lose_answers.store(false, Ordering::SeqCst);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, lose: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let executing = AtomicBool::new(false);
    let upstream = async {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    executing.store(buffer[0] == b'B', Ordering::SeqCst);
                    if server_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if lose.load(Ordering::SeqCst) && executing.load(Ordering::SeqCst) {
                        continue;
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    // Either side closing ends the connection (the other half is dropped with it).
    tokio::select! {
        () = upstream => {},
        () = downstream => {},
    }
}
