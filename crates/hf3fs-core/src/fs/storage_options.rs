//! `storage_options`: how a caller says how to reach an object store. Kept
//! apart from the `s3` backend, so a build without it still takes (and
//! refuses with a clear error) the same arguments.

use std::collections::BTreeMap;

/// How to reach a bucket: `storage_options`, as given by the caller.
/// Keys are object_store's `AmazonS3ConfigKey` and `ClientConfigKey` names
/// (`aws_endpoint`, `endpoint`, `aws_access_key_id`, `region`,
/// `allow_http`, `timeout`, ...), in any case, plus `max_retries` and
/// `retry_timeout` (seconds, or with an `ms`/`s`/`m` suffix).
pub type StorageOptions = BTreeMap<String, String>;

/// Whether a setting holds a credential, whose value never reaches a
/// message or `Debug` output.
pub(crate) fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "key_id",
        "access_key",
        "sse_customer_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// `storage_options` for `Debug` output, credentials redacted.
pub(crate) fn redacted(options: &[(String, String)]) -> Vec<(&str, &str)> {
    options
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                if is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                },
            )
        })
        .collect()
}
