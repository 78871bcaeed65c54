//! In-memory readers and writers (Arrow's `io/memory.h`), for tests and for
//! data already in memory.

use bytes::Bytes;

use super::interfaces::closed_error;
use super::{InputStream, RandomAccessFile};
use crate::error::Result;

/// Reads from a buffer in memory, both positionally and as a stream; reads
/// return slices of the buffer, never copies.
#[derive(Debug, Clone)]
pub struct BufferReader {
    data: Bytes,
    pos: u64,
    closed: bool,
    name: String,
}

impl BufferReader {
    /// A reader over `data`, named `<memory>` in messages.
    pub fn new(data: impl Into<Bytes>) -> BufferReader {
        BufferReader::named(data, "<memory>")
    }

    /// A reader over `data` named `name` in messages.
    pub fn named(data: impl Into<Bytes>, name: impl Into<String>) -> BufferReader {
        BufferReader {
            data: data.into(),
            pos: 0,
            closed: false,
            name: name.into(),
        }
    }

    fn slice(&self, offset: u64, len: usize) -> Bytes {
        let start = offset.min(self.data.len() as u64) as usize;
        let end = start.saturating_add(len).min(self.data.len());
        self.data.slice(start..end)
    }
}

impl RandomAccessFile for BufferReader {
    fn path(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let src = self.slice(offset, buf.len());
        buf[..src.len()].copy_from_slice(&src);
        Ok(src.len())
    }

    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        Ok(self.slice(offset, len))
    }

    fn supports_zero_copy(&self) -> bool {
        true
    }
}

impl InputStream for BufferReader {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = InputStream::read_bytes(self, buf.len())?;
        buf[..n.len()].copy_from_slice(&n);
        Ok(n.len())
    }

    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        if self.closed {
            return Err(closed_error("read", &self.name));
        }
        let out = self.slice(self.pos, nbytes);
        self.pos += out.len() as u64;
        Ok(out)
    }

    fn peek(&mut self, nbytes: usize) -> Result<Bytes> {
        Ok(self.slice(self.pos, nbytes))
    }

    fn advance(&mut self, nbytes: u64) -> Result<()> {
        self.pos = self.pos.saturating_add(nbytes).min(self.data.len() as u64);
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.pos)
    }

    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }

    fn closed(&self) -> bool {
        self.closed
    }

    fn supports_zero_copy(&self) -> bool {
        true
    }
}
