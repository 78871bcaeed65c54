//! File interfaces (Arrow's `io/interfaces.h`): sequential input streams,
//! random-access files, output streams and writable files.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::{to_usize, IoClass, KeyValueMetadata};
use crate::error::{Error, Result};

/// A byte range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadRange {
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

impl ReadRange {
    /// `length` bytes from `offset`.
    pub fn new(offset: u64, length: u64) -> ReadRange {
        ReadRange { offset, length }
    }

    /// One past the last byte (saturating, so huge ranges cannot wrap).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.length)
    }

    /// Whether `other` lies entirely inside this range.
    pub fn contains(&self, other: &ReadRange) -> bool {
        other.offset >= self.offset && other.end() <= self.end()
    }
}

/// Sequential reads.
pub trait InputStream: Send + fmt::Debug {
    /// Read up to `buf.len()` bytes; 0 only at the end of the stream.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;

    /// Read up to `nbytes` bytes into a new buffer (shorter only at the end).
    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        let mut out = vec![0u8; nbytes];
        let mut filled = 0;
        while filled < nbytes {
            let n = self.read(&mut out[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        out.truncate(filled);
        Ok(Bytes::from(out))
    }

    /// The next `nbytes` bytes (fewer at the end) without consuming them.
    fn peek(&mut self, nbytes: usize) -> Result<Bytes> {
        let _ = nbytes;
        Err(Error::Unsupported {
            op: "peek",
            fs: "stream",
            path: String::new(),
            reason: "this stream cannot look ahead".into(),
        })
    }

    /// Skip `nbytes` bytes (fewer at the end).
    fn advance(&mut self, nbytes: u64) -> Result<()> {
        // Chunks keep the scratch buffer small when skipping far.
        let mut scratch = vec![0u8; (nbytes.min(1 << 20)) as usize];
        let mut left = nbytes;
        while left > 0 {
            let want = left.min(scratch.len() as u64) as usize;
            let n = self.read(&mut scratch[..want])?;
            if n == 0 {
                break;
            }
            left -= n as u64;
        }
        Ok(())
    }

    /// Bytes consumed so far.
    fn tell(&self) -> Result<u64>;

    /// Release the stream's resources; later reads fail.
    fn close(&mut self) -> Result<()>;

    /// Whether [`InputStream::close`] was called.
    fn closed(&self) -> bool;

    /// Metadata stored with the file (see [`super::FileSystem::open_output_stream`]).
    fn metadata(&mut self) -> Result<KeyValueMetadata> {
        Ok(KeyValueMetadata::new())
    }

    /// Whether [`InputStream::read_bytes`] returns views of memory the
    /// stream already holds rather than copies.
    fn supports_zero_copy(&self) -> bool {
        false
    }
}

/// Positional reads; every method takes `&self`, so threads share one file
/// without a lock (backends use `pread`, not a shared cursor).
pub trait RandomAccessFile: Send + Sync + fmt::Debug {
    /// The path it was opened at (for messages).
    fn path(&self) -> &str;

    /// Size in bytes.
    fn size(&self) -> Result<u64>;

    /// Read into `buf` from `offset`; returns the byte count, short only at
    /// the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;

    /// Read `len` bytes from `offset` into a new buffer (short only at the end).
    fn read_bytes_at(&self, offset: u64, len: usize) -> Result<Bytes> {
        let mut out = vec![0u8; len];
        let n = self.read_at(offset, &mut out)?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }

    /// Fill many buffers, each from its own offset; returns each byte count
    /// (short only at the end of the file). Backends run the reads in
    /// parallel: through the batched IO engine for local and hf3fs files.
    fn read_many_into(&self, requests: &mut [(u64, &mut [u8])]) -> Result<Vec<usize>> {
        requests
            .iter_mut()
            .map(|(offset, buf)| self.read_at(*offset, buf))
            .collect()
    }

    /// Read many ranges into new buffers, in parallel where the backend can.
    fn read_many(&self, ranges: &[ReadRange]) -> Result<Vec<Bytes>> {
        let mut bufs = ranges
            .iter()
            .map(|r| Ok(vec![0u8; to_usize(r.length, self.path())?]))
            .collect::<Result<Vec<_>>>()?;
        let mut requests: Vec<(u64, &mut [u8])> = ranges
            .iter()
            .zip(bufs.iter_mut())
            .map(|(r, b)| (r.offset, b.as_mut_slice()))
            .collect();
        let counts = self.read_many_into(&mut requests)?;
        drop(requests);
        Ok(bufs
            .into_iter()
            .zip(counts)
            .map(|(mut b, n)| {
                b.truncate(n);
                Bytes::from(b)
            })
            .collect())
    }

    /// Hint that `ranges` will be read soon (the kernel may read ahead).
    fn will_need(&self, ranges: &[ReadRange]) -> Result<()> {
        let _ = ranges;
        Ok(())
    }

    /// Whether reads return views of memory the file already holds.
    fn supports_zero_copy(&self) -> bool {
        false
    }

    /// How the [`Scheduler`](super::Scheduler) issues this file's reads:
    /// local files take a request's ranges as one batched call, remote ones
    /// as concurrent round trips.
    fn io_class(&self) -> IoClass {
        IoClass::Local
    }
}

/// A sequential stream over a [`RandomAccessFile`] (Arrow's `GetStream`):
/// its own cursor, the file's positional reads underneath.
#[derive(Debug)]
pub struct RandomAccessStream {
    file: Arc<dyn RandomAccessFile>,
    pos: u64,
    closed: bool,
}

impl RandomAccessStream {
    /// A stream from the start of `file`.
    pub fn new(file: Arc<dyn RandomAccessFile>) -> RandomAccessStream {
        RandomAccessStream {
            file,
            pos: 0,
            closed: false,
        }
    }

    fn check_open(&self, op: &'static str) -> Result<()> {
        if self.closed {
            return Err(closed_error(op, self.file.path()));
        }
        Ok(())
    }
}

/// The error for a call on a closed file or stream.
pub(crate) fn closed_error(op: &'static str, path: &str) -> Error {
    Error::os(op, path, std::io::Error::from_raw_os_error(libc::EBADF))
}

impl InputStream for RandomAccessStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.check_open("read")?;
        let n = self.file.read_at(self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn read_bytes(&mut self, nbytes: usize) -> Result<Bytes> {
        self.check_open("read")?;
        let out = self.file.read_bytes_at(self.pos, nbytes)?;
        self.pos += out.len() as u64;
        Ok(out)
    }

    fn peek(&mut self, nbytes: usize) -> Result<Bytes> {
        self.check_open("peek")?;
        self.file.read_bytes_at(self.pos, nbytes)
    }

    fn advance(&mut self, nbytes: u64) -> Result<()> {
        self.check_open("advance")?;
        let size = self.file.size()?;
        self.pos = self.pos.saturating_add(nbytes).min(size.max(self.pos));
        Ok(())
    }

    fn tell(&self) -> Result<u64> {
        self.check_open("tell")?;
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
        self.file.supports_zero_copy()
    }
}

/// Sequential writes.
pub trait OutputStream: Send + fmt::Debug {
    /// Write all of `data`.
    fn write(&mut self, data: &[u8]) -> Result<()>;

    /// Write a buffer the caller no longer needs (in-memory streams keep it
    /// without copying).
    fn write_bytes(&mut self, data: Bytes) -> Result<()> {
        self.write(&data)
    }

    /// Push buffered bytes to the file system.
    fn flush(&mut self) -> Result<()>;

    /// Bytes written so far.
    fn tell(&self) -> Result<u64>;

    /// Flush and release; later writes fail. Closing twice is harmless.
    fn close(&mut self) -> Result<()>;

    /// Whether [`OutputStream::close`] was called.
    fn closed(&self) -> bool;

    /// Give up on the stream after a failure: where a file appears only when
    /// its stream is closed (objects), nothing appears and nothing of the old
    /// file is replaced; elsewhere the stream is closed as it is.
    fn abort(&mut self) -> Result<()> {
        self.close()
    }
}
