//! A tiny HTTP/1.1 client for talking to a `tributary serve` process: the tests need nothing more.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

/// Writes `request` (a whole HTTP/1.1 request that closes the connection) to `host` over a fresh
/// connection: the answer's status and body.
pub fn exchange(host: &str, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
