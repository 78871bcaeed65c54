//! In-memory readers and writers (Arrow's `io/memory.h`), for tests and for
//! data already in memory.

use bytes::Bytes;

use super::interfaces::closed_error;
use super::{InputStream, OutputStream, RandomAccessFile, WritableFile};
use crate::error::{Error, Result};

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

/// Collects written bytes in a growing buffer.
#[derive(Debug, Default)]
pub struct BufferOutputStream {
    data: Vec<u8>,
    closed: bool,
}

impl BufferOutputStream {
    /// An empty stream.
    pub fn new() -> BufferOutputStream {
        BufferOutputStream::default()
    }

    /// The bytes written so far, ending the stream.
    pub fn finish(self) -> Bytes {
        Bytes::from(self.data)
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.data
    }
}

impl OutputStream for BufferOutputStream {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(closed_error("write", "<memory>"));
        }
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }

    fn closed(&self) -> bool {
        self.closed
    }
}

/// Writes into a buffer of fixed size, sequentially or at offsets; writing
/// past its end is an error, never a reallocation.
#[derive(Debug)]
pub struct FixedSizeBufferWriter {
    data: Vec<u8>,
    pos: usize,
    closed: bool,
}

impl FixedSizeBufferWriter {
    /// A zero-filled buffer of `size` bytes.
    pub fn new(size: usize) -> FixedSizeBufferWriter {
        FixedSizeBufferWriter {
            data: vec![0u8; size],
            pos: 0,
            closed: false,
        }
    }

    /// The buffer.
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.data)
    }

    fn put(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        if self.closed {
            return Err(closed_error("write", "<memory>"));
        }
        let end = offset
            .checked_add(data.len())
            .filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(Error::invalid(
                format!("write of {} bytes at offset {offset}", data.len()),
                format!("does not fit in a buffer of {} bytes", self.data.len()),
            ));
        };
        self.data[offset..end].copy_from_slice(data);
        Ok(())
    }
}

impl OutputStream for FixedSizeBufferWriter {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.put(self.pos, data)?;
        self.pos += data.len();
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        Ok(self.pos as u64)
    }

    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }

    fn closed(&self) -> bool {
        self.closed
    }
}

impl WritableFile for FixedSizeBufferWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        self.put(offset, data)
    }
}
