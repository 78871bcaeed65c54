//! Connecting to an S3-compatible store: `storage_options` keys as
//! object_store (and obstore, polars) spell them, over the standard `AWS_*`
//! environment, checked before the first request so that a missing
//! credential or bucket is an error naming the URL and what to set.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use super::objectstore::{store_error, ObjectStoreFileSystem, Store};
use super::storage_options::{redacted, StorageOptions};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::runtime::net::block_on;

/// Retries of one request on 5xx, 429, timeouts and connection resets:
/// object_store's default (as in polars and obstore).
pub const DEFAULT_MAX_RETRIES: usize = 10;

/// How long one request keeps retrying before it fails: long enough to ride
/// out a store's brief overload or a load balancer's restart, short enough
/// that a dead store fails a training step within a minute instead of
/// object_store's default three.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(60);

/// Keys hf3fs adds to object_store's: the store client's retry bounds.
const MAX_RETRIES_KEY: &str = "max_retries";
const RETRY_TIMEOUT_KEY: &str = "retry_timeout";

/// The settings of one bucket, resolved from the environment and options.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct S3Settings {
    pub bucket: String,
    /// Canonical object_store keys and their values, sorted.
    pub config: Vec<(String, String)>,
    pub max_retries: usize,
    pub retry_timeout: Duration,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("config", &redacted(&self.config))
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .finish()
    }
}

fn invalid(url: &str, reason: impl std::fmt::Display) -> Error {
    Error::invalid(url, reason.to_string())
}

fn parse_duration(url: &str, key: &str, value: &str) -> Result<Duration> {
    let v = value.trim();
    let (number, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::from_secs_f64(n * scale))
        .ok_or_else(|| {
            invalid(
                url,
                format!("storage option {key}={value:?}: expected seconds, such as 30 or 500ms"),
            )
        })
}

impl S3Settings {
    /// The settings for `bucket`: `AWS_*` variables first, then `options`.
    pub fn resolve(bucket: &str, options: &StorageOptions) -> Result<S3Settings> {
        let url = format!("s3://{bucket}");
        // Canonical key names (`aws_endpoint` for `AWS_ENDPOINT_URL` too), so a
        // spelling given twice keeps the last.
        let mut config: BTreeMap<String, String> = BTreeMap::new();
        // Sorted, so that of two spellings of one key (AWS_ENDPOINT and
        // AWS_ENDPOINT_URL) the same one wins in every process.
        let mut env: Vec<(String, String)> = std::env::vars().collect();
        env.sort();
        for (name, value) in env {
            if name.starts_with("AWS_") {
                if let Ok(key) = AmazonS3ConfigKey::from_str(&name.to_ascii_lowercase()) {
                    config.insert(key.as_ref().to_string(), value);
                }
            }
        }
        let mut max_retries = DEFAULT_MAX_RETRIES;
        let mut retry_timeout = DEFAULT_RETRY_TIMEOUT;
        for (name, value) in options {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                MAX_RETRIES_KEY => {
                    max_retries = value.trim().parse().map_err(|_| {
                        invalid(
                            &url,
                            format!("storage option {name}={value:?}: expected a count"),
                        )
                    })?
                }
                RETRY_TIMEOUT_KEY => retry_timeout = parse_duration(&url, name, value)?,
                _ => {
                    let key = AmazonS3ConfigKey::from_str(&lower).map_err(|_| {
                        invalid(
                            &url,
                            format!(
                                "unknown storage option {name:?}; expected object_store's S3 keys \
                                 (aws_endpoint, aws_access_key_id, aws_secret_access_key, \
                                 aws_region, aws_allow_http, aws_skip_signature, timeout, ...) \
                                 or {MAX_RETRIES_KEY}, {RETRY_TIMEOUT_KEY}"
                            ),
                        )
                    })?;
                    config.insert(key.as_ref().to_string(), value.clone());
                }
            }
        }
        // The URI names the bucket; AWS_BUCKET must not redirect it.
        config.remove(AmazonS3ConfigKey::Bucket.as_ref());
        let settings = S3Settings {
            bucket: bucket.to_string(),
            config: config.into_iter().collect(),
            max_retries,
            retry_timeout,
        };
        settings.check(&url)?;
        Ok(settings)
    }

    fn get(&self, key: AmazonS3ConfigKey) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| k == key.as_ref())
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    fn flag(&self, key: AmazonS3ConfigKey) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }

    /// Refuse settings that would fail later or reach further than meant:
    /// without any credential, object_store would ask the EC2 instance
    /// metadata service, an address outside the network the user named.
    fn check(&self, url: &str) -> Result<()> {
        use AmazonS3ConfigKey as K;
        let access = self.get(K::AccessKeyId).is_some();
        let secret = self.get(K::SecretAccessKey).is_some();
        if access != secret {
            return Err(invalid(
                url,
                "an access key id needs its secret (and a secret its id): set both \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or both storage options \
                 aws_access_key_id and aws_secret_access_key",
            ));
        }
        let from_platform = self.get(K::WebIdentityTokenFile).is_some()
            || self.get(K::ContainerCredentialsRelativeUri).is_some()
            || self.get(K::ContainerCredentialsFullUri).is_some();
        let instance_metadata = std::env::var("AWS_EC2_METADATA_DISABLED")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("false"));
        if !access && !self.flag(K::SkipSignature) && !from_platform && !instance_metadata {
            return Err(invalid(
                url,
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or storage \
                 options aws_access_key_id and aws_secret_access_key); for a public bucket set \
                 aws_skip_signature=true; to use this machine's instance role set \
                 AWS_EC2_METADATA_DISABLED=false",
            ));
        }
        let endpoint = self.get(K::Endpoint).unwrap_or_default();
        let allow_http = self.flag(K::Client(object_store::ClientConfigKey::AllowHttp));
        if endpoint.starts_with("http://") && !allow_http {
            return Err(invalid(
                url,
                format!(
                    "the endpoint {endpoint} is plain HTTP: set AWS_ALLOW_HTTP=true (or the \
                     storage option aws_allow_http=true) to allow it"
                ),
            ));
        }
        Ok(())
    }

    fn build(&self) -> Result<Store> {
        let url = format!("s3://{}", self.bucket);
        let mut builder = AmazonS3Builder::new().with_bucket_name(&self.bucket);
        for (k, v) in &self.config {
            // Every key came from AmazonS3ConfigKey, so it parses again.
            if let Ok(key) = AmazonS3ConfigKey::from_str(k) {
                builder = builder.with_config(key, v);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        let store = builder
            .with_retry(retry)
            .build()
            .map_err(|e| invalid(&url, format!("cannot configure the store: {e}")))?;
        let store = Arc::new(store);
        Ok(Store {
            objects: store.clone(),
            pages: Some(store),
        })
    }

    fn endpoint(&self) -> String {
        self.get(AmazonS3ConfigKey::Endpoint)
            .map(str::to_string)
            .unwrap_or_else(|| {
                let region = self.get(AmazonS3ConfigKey::Region).unwrap_or("us-east-1");
                format!("https://s3.{region}.amazonaws.com")
            })
    }
}

/// A file system over `settings.bucket`, after one listing request that
/// proves the bucket exists and the credentials are accepted. A credential
/// allowed to list only some prefixes (an IAM condition on `s3:prefix`) is
/// refused the bucket's root listing: that is not an error here, and each
/// call names what it may not do.
pub(crate) fn connect(settings: &S3Settings) -> Result<ObjectStoreFileSystem> {
    let url = format!("s3://{}", settings.bucket);
    let handles = settings.build()?;
    let store = handles.objects.clone();
    let first = block_on("connect", &CancelToken::never(), async {
        store.list(None).next().await
    })?;
    match first {
        None | Some(Ok(_)) | Some(Err(object_store::Error::PermissionDenied { .. })) => {}
        Some(Err(e)) => {
            let text = e.to_string();
            let endpoint = settings.endpoint();
            let err = store_error("list", format!("{url}/"), None, e);
            if text.contains("NoSuchBucket") {
                return Err(Error::Store {
                    op: "connect",
                    url,
                    range: None,
                    errno: libc::ENOENT,
                    detail: format!("the bucket does not exist at {endpoint}"),
                });
            }
            return Err(err);
        }
    }
    let settings = settings.clone();
    // The store that answered the check serves this process; a forked child
    // builds its own.
    Ok(ObjectStoreFileSystem::per_process(
        &url,
        "s3",
        Some(handles),
        move || settings.build(),
    ))
}
