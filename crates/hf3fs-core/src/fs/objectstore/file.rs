//! An object opened for ranged reads.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange};

use super::{store_error, Shared};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::fs::{IoClass, RandomAccessFile};
use crate::runtime::net::block_on;

/// An object opened for ranged reads.
pub(super) struct ObjectFile {
    pub(super) shared: Arc<Shared>,
    pub(super) key: String,
    pub(super) location: Key,
    pub(super) size: u64,
    /// The ETag seen at open; reads fail if the object changes (unknown when
    /// the file was opened with a size from a listing).
    pub(super) e_tag: Option<String>,
}

impl std::fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectFile")
            .field("url", &self.shared.url(&self.key))
            .field("size", &self.size)
            .finish()
    }
}

impl ObjectFile {
    /// The part of `offset..offset + len` inside the object.
    fn clamp(&self, offset: u64, len: usize) -> Range<u64> {
        let start = offset.min(self.size);
        start..offset.saturating_add(len as u64).min(self.size)
    }

    /// One ranged GET per range, all in flight at once.
    pub(super) fn get(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let op = "read";
        let store = self.shared.store()?;
        let gets = ranges.iter().filter(|r| !r.is_empty()).map(|r| {
            let options = GetOptions {
                range: Some(GetRange::Bounded(r.clone())),
                if_match: self.e_tag.clone(),
                ..GetOptions::default()
            };
            let store = store.clone();
            let r = r.clone();
            async move {
                let got = store.get_opts(&self.location, options).await;
                let bytes = match got {
                    Ok(result) => result.bytes().await,
                    Err(e) => Err(e),
                };
                (r, bytes)
            }
        });
        let fetched = block_on(op, &CancelToken::never(), futures::future::join_all(gets))?;
        let mut fetched = fetched.into_iter();
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            if r.is_empty() {
                out.push(Bytes::new());
                continue;
            }
            let Some((range, got)) = fetched.next() else {
                break;
            };
            let bytes = got.map_err(|e| {
                store_error(
                    op,
                    self.shared.url(&self.key),
                    Some((range.start, range.end)),
                    e,
                )
            })?;
            let want = range.end - range.start;
            if bytes.len() as u64 != want {
                return Err(Error::Store {
                    op,
                    url: self.shared.url(&self.key),
                    range: Some((range.start, range.end)),
                    errno: libc::EIO,
                    detail: format!(
                        "the store returned {} of {want} bytes: the object is shorter than \
                         the {} bytes it had when opened",
                        bytes.len(),
                        self.size
                    ),
                });
            }
            out.push(bytes);
        }
        Ok(out)
    }
}

impl RandomAccessFile for ObjectFile {
    fn path(&self) -> &str {
        &self.key
    }

    fn size(&self) -> Result<u64> {
        Ok(self.size)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let range = self.clamp(offset, buf.len());
        let bytes = self.get(std::slice::from_ref(&range))?;
        let n = bytes[0].len();
        buf[..n].copy_from_slice(&bytes[0]);
        Ok(n)
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let range = self.clamp(offset, len);
        Ok(self.get(std::slice::from_ref(&range))?.swap_remove(0))
    }

    fn read_many_into(&self, requests: &mut [(u64, &mut [u8])]) -> Result<Vec<usize>> {
        let ranges: Vec<Range<u64>> = requests
            .iter()
            .map(|(offset, buf)| self.clamp(*offset, buf.len()))
            .collect();
        let fetched = self.get(&ranges)?;
        Ok(requests
            .iter_mut()
            .zip(fetched)
            .map(|((_, buf), bytes)| {
                buf[..bytes.len()].copy_from_slice(&bytes);
                bytes.len()
            })
            .collect())
    }

    fn io_class(&self) -> IoClass {
        IoClass::Remote
    }
}
