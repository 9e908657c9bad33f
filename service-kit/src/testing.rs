//! Test support shared by both servers' end-to-end tests (feature `testing`; never in a
//! production build): connections from chosen loopback addresses, and whether the server
//! closed one. These panic on I/O failure, as test helpers do.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Opens a TCP connection to `addr` from the loopback address `from` (another "client").
pub fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::from((from, 0))).unwrap();
        s.connect(addr).await.unwrap().into_std().unwrap()
    })
}

/// Whether the server closed `s` (EOF or reset) within a bounded wait (20 s).
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}
