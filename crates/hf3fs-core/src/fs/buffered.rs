//! Buffered and transforming streams (Arrow's `io/buffered.h`, `io/transform.h`).

use std::fmt;

use bytes::{Bytes, BytesMut};

use super::{InputStream, OutputStream};
use crate::error::Result;

/// Arrow's default buffer for buffered streams: 64 KiB turns small reads and
/// writes into a few syscalls without holding much memory per stream.
pub const DEFAULT_BUFFER_SIZE: usize = 64 << 10;

/// Reads from `inner` in `buffer_size` chunks, so small reads are cheap and
/// [`InputStream::peek`] works on any stream.
#[derive(Debug)]
pub struct BufferedInputStream<S> {
    inner: S,
    buffer: Bytes,
    buffer_size: usize,
    pos: u64,
}

impl<S: InputStream> BufferedInputStream<S> {
    /// Buffer `inner` with [`DEFAULT_BUFFER_SIZE`].
    pub fn new(inner: S) -> Self {
        Self::with_capacity(inner, DEFAULT_BUFFER_SIZE)
    }

    /// Buffer `inner` in chunks of `buffer_size` bytes (at least 1).
    pub fn with_capacity(inner: S, buffer_size: usize) -> Self {
        let pos = inner.tell().unwrap_or(0);
        BufferedInputStream {
            inner,
            buffer: Bytes::new(),
            buffer_size: buffer_size.max(1),
            pos,
        }
    }

    /// Bytes buffered and not yet consumed.
    pub fn bytes_buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The stream underneath (its position is ahead by the buffered bytes).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Make at least `want` bytes available (fewer at the end).
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.buffer.len() >= want {
            return Ok(());
        }
        let mut grown = BytesMut::with_capacity(want.max(self.buffer_size));
        grown.extend_from_slice(&self.buffer);
        while grown.len() < want {
            let chunk = self
                .inner
                .read_bytes(want.max(self.buffer_size) - grown.len())?;
            if chunk.is_empty() {
                break;
            }
            grown.extend_from_slice(&chunk);
        }
        self.buffer = grown.freeze();
        Ok(())
    }
}

impl<S: InputStream> InputStream for BufferedInputStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let out = self.read_bytes(buf.len())?;
        buf[..out.len()].copy_from_slice(&out);
        Ok(out.len())
    }

    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        if self.buffer.is_empty() && nbytes >= self.buffer_size {
            // A large read gains nothing from the buffer.
            let out = self.inner.read_bytes(nbytes)?;
            self.pos += out.len() as u64;
            return Ok(out);
        }
        self.fill(nbytes)?;
        let n = nbytes.min(self.buffer.len());
        let out = self.buffer.split_to(n);
        self.pos += n as u64;
        Ok(out)
    }

    fn peek(&mut self, nbytes: usize) -> Result<Bytes> {
        self.fill(nbytes)?;
        Ok(self.buffer.slice(..nbytes.min(self.buffer.len())))
    }

    fn advance(&mut self, nbytes: u64) -> Result<()> {
        let from_buffer = nbytes.min(self.buffer.len() as u64) as usize;
        let _ = self.buffer.split_to(from_buffer);
        self.pos += from_buffer as u64;
        let rest = nbytes - from_buffer as u64;
        if rest > 0 {
            let before = self.inner.tell()?;
            self.inner.advance(rest)?;
            self.pos += self.inner.tell()? - before;
        }
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.pos)
    }

    fn close(&mut self) -> Result<()> {
        self.buffer = Bytes::new();
        self.inner.close()
    }

    fn closed(&self) -> bool {
        self.inner.closed()
    }

    fn metadata(&mut self) -> Result<super::KeyValueMetadata> {
        self.inner.metadata()
    }
}

/// Collects small writes into `buffer_size` chunks before passing them on.
#[derive(Debug)]
pub struct BufferedOutputStream<W: OutputStream> {
    inner: W,
    buffer: Vec<u8>,
    buffer_size: usize,
    written: u64,
}

impl<W: OutputStream> BufferedOutputStream<W> {
    /// Buffer `inner` with [`DEFAULT_BUFFER_SIZE`].
    pub fn new(inner: W) -> Self {
        Self::with_capacity(inner, DEFAULT_BUFFER_SIZE)
    }

    /// Buffer `inner` in chunks of `buffer_size` bytes (at least 1).
    pub fn with_capacity(inner: W, buffer_size: usize) -> Self {
        let written = inner.tell().unwrap_or(0);
        BufferedOutputStream {
            inner,
            buffer: Vec::with_capacity(buffer_size.max(1)),
            buffer_size: buffer_size.max(1),
            written,
        }
    }

    /// Flush and return the stream underneath.
    pub fn into_inner(mut self) -> Result<W> {
        self.flush_buffer()?;
        Ok(self.inner)
    }

    fn flush_buffer(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.inner.write(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl<W: OutputStream> OutputStream for BufferedOutputStream<W> {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.inner.closed() {
            return Err(super::interfaces::closed_error(
                "write",
                "<buffered stream>",
            ));
        }
        if self.buffer.len() + data.len() > self.buffer_size {
            self.flush_buffer()?;
        }
        if data.len() >= self.buffer_size {
            self.inner.write(data)?;
        } else {
            self.buffer.extend_from_slice(data);
        }
        self.written += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.flush_buffer()?;
        self.inner.flush()
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.written)
    }

    fn close(&mut self) -> Result<()> {
        if self.inner.closed() {
            return Ok(());
        }
        let flushed = self.flush_buffer();
        let closed = self.inner.close();
        flushed.and(closed)
    }

    fn closed(&self) -> bool {
        self.inner.closed()
    }
}

/// A function applied to each chunk of a [`TransformInputStream`]; at the end
/// of the input it is called once more with an empty chunk so a stateful
/// transform (a decompressor, a UTF-8 decoder) can emit what it holds back.
pub type TransformFn = Box<dyn FnMut(Bytes) -> Result<Bytes> + Send>;

/// Applies a function to the bytes of another stream as they are read.
pub struct TransformInputStream {
    inner: Box<dyn InputStream>,
    transform: TransformFn,
    pending: Bytes,
    finished: bool,
    closed: bool,
    pos: u64,
}

impl fmt::Debug for TransformInputStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformInputStream")
            .field("inner", &self.inner)
            .field("pos", &self.pos)
            .finish()
    }
}

/// How much a transform stream reads from its input per call: a buffered
/// stream's chunk, so transforms see reasonably sized pieces.
const TRANSFORM_CHUNK: usize = DEFAULT_BUFFER_SIZE;

impl TransformInputStream {
    /// Read `inner` through `transform`.
    pub fn new(inner: Box<dyn InputStream>, transform: TransformFn) -> TransformInputStream {
        TransformInputStream {
            inner,
            transform,
            pending: Bytes::new(),
            finished: false,
            closed: false,
            pos: 0,
        }
    }
}

impl InputStream for TransformInputStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let out = self.read_bytes(buf.len())?;
        buf[..out.len()].copy_from_slice(&out);
        Ok(out.len())
    }

    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        if self.closed {
            return Err(super::interfaces::closed_error(
                "read",
                "<transform stream>",
            ));
        }
        let mut out = BytesMut::new();
        while out.len() < nbytes {
            if self.pending.is_empty() {
                if self.finished {
                    break;
                }
                let chunk = self.inner.read_bytes(TRANSFORM_CHUNK)?;
                self.finished = chunk.is_empty();
                self.pending = (self.transform)(chunk)?;
                continue;
            }
            let take = (nbytes - out.len()).min(self.pending.len());
            if out.is_empty() && take == self.pending.len() && take == nbytes {
                // The whole request is one transformed chunk: hand it over as is.
                self.pos += take as u64;
                return Ok(std::mem::take(&mut self.pending));
            }
            out.extend_from_slice(&self.pending.split_to(take));
        }
        self.pos += out.len() as u64;
        Ok(out.freeze())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.pos)
    }

    fn close(&mut self) -> Result<()> {
        self.closed = true;
        self.inner.close()
    }

    fn closed(&self) -> bool {
        self.closed
    }
}
