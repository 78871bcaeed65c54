//! The object store backend against a real S3-compatible server (the one
//! `make test` starts): configuration errors that name the URL and what to
//! set, missing buckets and keys, objects that change under a reader, and
//! the scheduler's many GETs in flight.

#[path = "fs_conformance/s3_server.rs"]
mod s3_server;

use std::sync::Arc;

use hf3fs_core::fs::{filesystem_from_uri, read_ranges, FileSystemExt, ReadRange, UriOptions};
use hf3fs_core::CancelToken;

fn error_of<T: std::fmt::Debug>(r: hf3fs_core::Result<T>) -> hf3fs_core::Error {
    r.expect_err("expected an error")
}

#[test]
fn settings_errors_name_the_url_and_what_to_set() {
    // None of these reach the network: they fail while resolving settings.
    let mut o = UriOptions::default();
    for (k, v) in [
        ("aws_endpoint", "http://127.0.0.1:9"),
        ("aws_access_key_id", "a"),
    ] {
        o.storage_options.insert(k.into(), v.into());
    }
    let e = error_of(filesystem_from_uri("s3://half-keys/x", &o)).to_string();
    assert!(
        e.contains("s3://half-keys") && e.contains("AWS_SECRET_ACCESS_KEY"),
        "{e}"
    );

    o.storage_options
        .insert("aws_secret_access_key".into(), "b".into());
    let e = error_of(filesystem_from_uri("s3://plain-http/x", &o)).to_string();
    assert!(
        e.contains("s3://plain-http") && e.contains("AWS_ALLOW_HTTP"),
        "{e}"
    );

    o.storage_options
        .insert("no_such_option".into(), "1".into());
    let e = error_of(filesystem_from_uri("s3://typo/x", &o)).to_string();
    assert!(
        e.contains("no_such_option") && e.contains("aws_endpoint"),
        "{e}"
    );

    let mut o = UriOptions::default();
    o.storage_options
        .insert("retry_timeout".into(), "soon".into());
    let e = error_of(filesystem_from_uri("s3://retry/x", &o)).to_string();
    assert!(e.contains("retry_timeout") && e.contains("soon"), "{e}");
}

#[test]
fn missing_credentials_never_fall_back_to_instance_metadata() {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        || std::env::var_os("AWS_EC2_METADATA_DISABLED").is_some()
    {
        return; // the environment supplies its own credentials
    }
    let mut o = UriOptions::default();
    o.storage_options
        .insert("aws_endpoint".into(), "https://127.0.0.1:9".into());
    let e = error_of(filesystem_from_uri("s3://no-creds/x", &o)).to_string();
    assert!(
        e.contains("s3://no-creds")
            && e.contains("AWS_ACCESS_KEY_ID")
            && e.contains("aws_skip_signature"),
        "{e}"
    );
}

#[test]
fn a_missing_bucket_is_named() {
    let Some(endpoint) = s3_server::endpoint() else {
        return;
    };
    let e = error_of(filesystem_from_uri(
        "s3://hf3fs-no-such-bucket/x",
        &s3_server::options(&endpoint),
    ));
    assert_eq!(e.raw_errno(), Some(libc::ENOENT), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("s3://hf3fs-no-such-bucket") && msg.contains("does not exist"),
        "{msg}"
    );
}

#[test]
fn missing_keys_and_bad_ranges_name_the_url() {
    let Some((fs, bucket)) = s3_server::fresh_bucket() else {
        return;
    };
    let e = error_of(fs.open_input_file("no/such/key.parquet"));
    assert_eq!(e.raw_errno(), Some(libc::ENOENT));
    assert!(
        e.to_string()
            .contains(&format!("s3://{bucket}/no/such/key.parquet")),
        "{e}"
    );
    fs.write_all("f", b"0123456789").unwrap();
    let file = fs.open_input_file("f").unwrap();
    // Reads past the end are short, as for files.
    assert_eq!(file.read_bytes_at(8, 10).unwrap(), "89");
    assert!(file.read_bytes_at(20, 5).unwrap().is_empty());
}

#[test]
fn a_replaced_or_truncated_object_fails_instead_of_mixing_versions() {
    let Some((fs, bucket)) = s3_server::fresh_bucket() else {
        return;
    };
    fs.write_all("f", &[1u8; 1000]).unwrap();
    let file = fs.open_input_file("f").unwrap();
    assert_eq!(file.read_bytes_at(0, 10).unwrap(), vec![1u8; 10]);
    fs.write_all("f", &[2u8; 100]).unwrap();
    let e = error_of(file.read_bytes_at(500, 10));
    assert_eq!(e.raw_errno(), Some(libc::ESTALE), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("s3://{bucket}/f")) && msg.contains("500..510"),
        "{msg}"
    );
    // Opened with a size from a listing (no ETag), a shorter object is
    // still an error naming the range, never a short buffer passed off as data.
    let mut info = fs.get_file_info("f").unwrap();
    info.size = Some(1000);
    info.version = None;
    let listed = fs.open_input_file_info(&info).unwrap();
    let e = error_of(listed.read_bytes_at(50, 100));
    assert!(e.to_string().contains("50..150"), "{e}");
}

#[test]
fn many_ranges_read_through_the_scheduler() {
    let Some((fs, _)) = s3_server::fresh_bucket() else {
        return;
    };
    // Bigger than two parts, so the upload is multipart.
    let big: Vec<u8> = (0..20u32 << 20).map(|i| (i % 253) as u8).collect();
    assert!(big.len() > 2 * hf3fs_core::fs::DEFAULT_PART_SIZE);
    fs.write_all("big", &big).unwrap();
    assert_eq!(fs.get_file_info("big").unwrap().size, Some(20 << 20));
    let file: Arc<dyn hf3fs_core::fs::RandomAccessFile> = fs.open_input_file("big").unwrap();
    let ranges: Vec<ReadRange> = (0..40u64)
        .map(|i| ReadRange::new(i * 500_000 + 17, 4096 + i))
        .collect();
    let got = read_ranges(&file, &ranges, &CancelToken::never()).unwrap();
    for (r, bytes) in ranges.iter().zip(&got) {
        let want = &big[r.offset as usize..r.end() as usize];
        assert_eq!(bytes.as_ref(), want, "{r:?}");
    }
    // A stream dropped before close leaves nothing behind.
    let mut out = fs.open_output_stream("abandoned", None).unwrap();
    out.write(&big[..10 << 20]).unwrap();
    drop(out);
    assert!(!fs.exists("abandoned").unwrap());
}

#[test]
fn directory_markers_from_other_tools_are_directories_not_entries() {
    let Some(endpoint) = s3_server::endpoint() else {
        return;
    };
    let Some((fs, bucket)) = s3_server::fresh_bucket() else {
        return;
    };
    // What the S3 console's "Create folder" and Hadoop's S3A leave behind.
    for marker in ["d/", "d/empty/", "d/sub/"] {
        s3_server::put_raw(&endpoint, &bucket, marker, b"");
    }
    fs.write_all("d/f", b"file").unwrap();
    fs.write_all("d/sub/g", b"gg").unwrap();
    assert!(fs.get_file_info("d").unwrap().is_dir());
    let names = |recursive: bool| -> Vec<(String, bool)> {
        let mut select = hf3fs_core::fs::FileSelector::new("d");
        select.recursive = recursive;
        fs.get_file_info_selector(&select)
            .unwrap()
            .into_iter()
            .map(|i| (i.path.clone(), i.is_dir()))
            .collect()
    };
    let top = names(false);
    assert!(top.contains(&("d/f".into(), false)), "{top:?}");
    assert!(top.contains(&("d/sub".into(), true)), "{top:?}");
    assert!(
        !top.iter().any(|(p, _)| p == "d" || p.is_empty()),
        "{top:?}"
    );
    let all = names(true);
    assert!(all.contains(&("d/sub/g".into(), false)), "{all:?}");
    assert!(!all.iter().any(|(p, _)| p == "d"), "{all:?}");
    // Deleting the tree takes every object below it, and never a file `d`.
    fs.write_all("dx", b"sibling").unwrap();
    fs.delete_dir("d", &CancelToken::never()).unwrap();
    assert!(!fs.exists("d/f").unwrap() && !fs.exists("d/sub/g").unwrap());
    assert_eq!(fs.read_all("dx").unwrap(), "sibling");
}

#[test]
fn a_failed_or_aborted_stream_publishes_nothing() {
    let Some((fs, _)) = s3_server::fresh_bucket() else {
        return;
    };
    fs.write_all("kept", b"the old object").unwrap();
    // Aborted after a multipart upload began: the old object stays.
    let big = vec![7u8; hf3fs_core::fs::DEFAULT_PART_SIZE + 1000];
    let mut out = fs.open_output_stream("kept", None).unwrap();
    out.write(&big).unwrap();
    out.abort().unwrap();
    assert!(out.closed());
    assert_eq!(fs.read_all("kept").unwrap(), "the old object");
    // Aborted while still buffered: nothing appears.
    let mut out = fs.open_output_stream("never", None).unwrap();
    out.write(b"partial").unwrap();
    out.abort().unwrap();
    assert!(!fs.exists("never").unwrap());
    // Big objects are copied and moved (multipart above one part).
    fs.write_all("big", &big).unwrap();
    fs.copy_file("big", "copy").unwrap();
    fs.move_path("copy", "moved").unwrap();
    assert_eq!(fs.read_all("moved").unwrap(), big);
    assert!(!fs.exists("copy").unwrap());
}
