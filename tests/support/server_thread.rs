//! A loopback server on its own thread and current-thread tokio runtime, so
//! it keeps serving a binderctl child process while the test blocks on it.
//! Stops (and joins the thread) when dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub struct ServerThread {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Run `body` on a new thread. It binds, reports its address on the
    /// sender, then serves until the receiver fires. Returns the address.
    pub fn start<F, Fut>(name: &'static str, body: F) -> (SocketAddr, ServerThread)
    where
        F: FnOnce(mpsc::Sender<SocketAddr>, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(body(addr_tx, shutdown_rx));
        });
        let addr = addr_rx
            .recv()
            .unwrap_or_else(|_| panic!("{name} did not start"));
        let server = ServerThread {
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        (addr, server)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
