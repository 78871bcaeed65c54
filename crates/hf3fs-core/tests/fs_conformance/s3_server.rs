//! The S3-compatible server `make test` starts on 127.0.0.1 (moto's server
//! mode): its endpoint, options that reach it, and fresh buckets.

// Shared by two test crates, each of which uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use hf3fs_core::fs::{filesystem_from_uri, FileSystem, UriOptions};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The server's endpoint; a missing one fails under CI, where the test
/// command always starts a server, and is skipped with a note elsewhere.
pub fn endpoint() -> Option<String> {
    match std::env::var("HF3FS_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but HF3FS_TEST_S3_ENDPOINT is unset: run the tests with `make test`")
        }
        _ => {
            eprintln!("skipping an S3 case: HF3FS_TEST_S3_ENDPOINT is unset (`make test` starts a server)");
            None
        }
    }
}

/// Storage options for the test server (moto accepts any key pair).
pub fn options(endpoint: &str) -> UriOptions {
    let mut options = UriOptions::default();
    for (k, v) in [
        ("aws_endpoint", endpoint),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("aws_region", "us-east-1"),
        ("aws_allow_http", "true"),
        ("retry_timeout", "5s"),
    ] {
        options.storage_options.insert(k.into(), v.into());
    }
    options
}

/// Put `body` at `key` of `bucket` as it is, with one unsigned PUT: for
/// keys object_store cannot write, such as the `d/` directory markers the
/// S3 console and Hadoop's S3A make.
pub fn put_raw(endpoint: &str, bucket: &str, key: &str, body: &[u8]) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).expect("connect to the S3 test server");
    write!(
        conn,
        "PUT /{bucket}/{key} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "putting {key}: {reply}");
}

/// Create `bucket` with one unsigned PUT (moto's server accepts it; the
/// backend under test has no call that creates buckets).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).expect("connect to the S3 test server");
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "creating {bucket}: {reply}"
    );
}

/// A new, empty bucket's file system.
pub fn fresh_bucket() -> Option<(Arc<dyn FileSystem>, String)> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let endpoint = endpoint()?;
    let bucket = format!(
        "conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    create_bucket(&endpoint, &bucket);
    let (fs, _) = filesystem_from_uri(&format!("s3://{bucket}/"), &options(&endpoint))
        .expect("open the test bucket");
    Some((fs, bucket))
}
