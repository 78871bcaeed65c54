//! An object being written: one part buffered, then a multipart upload.
//! Nothing is visible until `close` succeeds; a failed write, an `abort`, a
//! drop without `close`, or a stream used in a forked child never publishes
//! anything, and the object that was there stays.

use std::sync::Arc;

use object_store::path::Path as Key;
use object_store::{Attributes, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};

use super::Shared;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::fs::OutputStream;
use crate::runtime::net::{block_on, enter};

/// Bytes an output stream buffers before it starts a multipart upload, and
/// the size of each part: S3's smallest part is 5 MiB, and 8 MiB parts keep
/// a 10,000-part upload (S3's limit) good for 78 GiB objects.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// Parts one output stream uploads at once: enough to keep a connection's
/// bandwidth busy across round trips while holding about 72 MiB (8 parts
/// in flight and one filling).
pub(super) const PARTS_IN_FLIGHT: usize = 8;

/// S3's most parts in one multipart upload.
const MAX_PARTS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Closed,
    /// A write or the upload failed: nothing will be published.
    Failed,
}

/// An object being written.
pub(super) struct ObjectWriter {
    shared: Arc<Shared>,
    key: String,
    location: Key,
    attributes: Attributes,
    /// Bytes not yet handed to an upload (at most one part).
    pending: Vec<u8>,
    upload: Option<WriteMultipart>,
    written: u64,
    state: State,
    /// The fork generation the stream was opened in: its upload's tasks run
    /// on that process's async runtime.
    generation: u64,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("url", &self.shared.url(&self.key))
            .field("written", &self.written)
            .field("state", &self.state)
            .finish()
    }
}

impl ObjectWriter {
    pub(super) fn new(shared: Arc<Shared>, key: String, attributes: Attributes) -> ObjectWriter {
        ObjectWriter {
            location: super::loc(&key),
            shared,
            key,
            attributes,
            pending: Vec::new(),
            upload: None,
            written: 0,
            state: State::Open,
            generation: crate::fork::generation(),
        }
    }

    fn url(&self) -> String {
        self.shared.url(&self.key)
    }

    fn check_open(&self, op: &'static str) -> Result<()> {
        match self.state {
            State::Open => {}
            State::Closed => return Err(crate::fs::interfaces::closed_error(op, &self.url())),
            State::Failed => {
                return Err(self.failure(
                    op,
                    libc::EIO,
                    "an earlier write failed, so the object was not written",
                ))
            }
        }
        if self.generation != crate::fork::generation() {
            return Err(self.failure(
                op,
                libc::EIO,
                "the stream was opened before fork(); write the object from one process",
            ));
        }
        Ok(())
    }

    fn failure(&self, op: &'static str, errno: i32, detail: &str) -> Error {
        Error::Store {
            op,
            url: self.url(),
            range: None,
            errno,
            detail: detail.to_string(),
        }
    }

    /// Give up the upload: abort it in this process, forget it in a forked
    /// child (its tasks belong to the parent's runtime).
    fn drop_upload(&mut self) {
        self.pending = Vec::new();
        let Some(multipart) = self.upload.take() else {
            return;
        };
        if self.generation == crate::fork::generation() {
            let _ = block_on("abort", &CancelToken::never(), multipart.abort());
        } else {
            std::mem::forget(multipart);
        }
    }

    /// Mark the stream failed and give up its upload; returns `e`.
    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed;
        self.drop_upload();
        e
    }

    fn write_open(&mut self, data: &[u8]) -> Result<()> {
        let op = "write";
        let limit = MAX_PARTS * DEFAULT_PART_SIZE as u64;
        if self.written + data.len() as u64 > limit {
            return Err(self.failure(
                op,
                libc::EFBIG,
                &format!("an object written in {DEFAULT_PART_SIZE}-byte parts holds at most {limit} bytes (S3's 10,000 parts)"),
            ));
        }
        let never = CancelToken::never();
        if self.upload.is_none() {
            if self.pending.len() + data.len() < DEFAULT_PART_SIZE {
                self.pending.extend_from_slice(data);
                self.written += data.len() as u64;
                return Ok(());
            }
            let store = self.shared.store()?;
            let options = PutMultipartOptions::from(self.attributes.clone());
            let upload = block_on(
                op,
                &never,
                store.put_multipart_opts(&self.location, options),
            )?
            .map_err(|e| self.shared.error(op, &self.key, None, e))?;
            let mut multipart = WriteMultipart::new_with_chunk_size(upload, DEFAULT_PART_SIZE);
            let pending = std::mem::take(&mut self.pending);
            enter(|| multipart.write(&pending))?;
            self.upload = Some(multipart);
        }
        let Some(multipart) = self.upload.as_mut() else {
            return Ok(());
        };
        enter(|| multipart.write(data))?;
        self.written += data.len() as u64;
        block_on(op, &never, multipart.wait_for_capacity(PARTS_IN_FLIGHT))?
            .map_err(|e| self.shared.error(op, &self.key, None, e))
    }

    fn publish(&mut self) -> Result<()> {
        let op = "close";
        let never = CancelToken::never();
        match self.upload.as_mut() {
            Some(multipart) => {
                // Every part first: a failed one aborts the upload here, so
                // no parts are left behind (finish would return without it).
                block_on(op, &never, multipart.wait_for_capacity(0))?
                    .map_err(|e| self.shared.error(op, &self.key, None, e))?;
                let Some(multipart) = self.upload.take() else {
                    return Ok(());
                };
                block_on(op, &never, multipart.finish())?
                    .map(|_| ())
                    .map_err(|e| self.shared.error(op, &self.key, None, e))
            }
            None => {
                let store = self.shared.store()?;
                let payload = PutPayload::from(std::mem::take(&mut self.pending));
                let options = PutOptions::from(self.attributes.clone());
                block_on(op, &never, store.put_opts(&self.location, payload, options))?
                    .map(|_| ())
                    .map_err(|e| self.shared.error(op, &self.key, None, e))
            }
        }
    }
}

impl OutputStream for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.check_open("write")?;
        self.write_open(data).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> Result<()> {
        // An object appears whole at close; there is nothing partial to push.
        self.check_open("flush")
    }

    fn tell(&self) -> Result<u64> {
        if self.state == State::Closed {
            return Err(crate::fs::interfaces::closed_error("tell", &self.url()));
        }
        Ok(self.written)
    }

    fn close(&mut self) -> Result<()> {
        if self.state == State::Closed {
            return Ok(());
        }
        if let Err(e) = self.check_open("close") {
            self.state = State::Closed;
            self.drop_upload();
            return Err(e);
        }
        let published = self.publish();
        self.state = State::Closed;
        if published.is_err() {
            self.drop_upload();
        }
        published
    }

    fn closed(&self) -> bool {
        self.state == State::Closed
    }

    fn abort(&mut self) -> Result<()> {
        self.state = State::Closed;
        self.drop_upload();
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Unclosed: abort, so no partial object and no stray parts remain.
        self.drop_upload();
    }
}
