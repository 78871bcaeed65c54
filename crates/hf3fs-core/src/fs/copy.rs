//! Copying a file from one [`FileSystem`] to another (Arrow's `CopyFiles`
//! for one file): parallel positional reads into one reused buffer, then
//! large sequential writes, whatever the two backends are.

use super::{FileSystem, OutputStream};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Bytes of one read: large enough that each is one sequential request on
/// any file system (and a few ranged GETs' worth of an object store's
/// per-connection bandwidth), small enough that a short file is one read.
pub const DEFAULT_COPY_CHUNK: usize = 4 << 20;

/// Reads in flight at once: 16 x 4 MiB (64 MiB) keeps a parallel file
/// system or an object store busy while the copy's buffer stays small.
pub const DEFAULT_COPY_READS: usize = 16;

/// How [`copy_between`] moves data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// Bytes of one read.
    pub chunk: usize,
    /// Reads issued together (the buffer holds `chunk * reads` bytes).
    pub reads: usize,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            chunk: DEFAULT_COPY_CHUNK,
            reads: DEFAULT_COPY_READS,
        }
    }
}

/// Copy `src_path` on `src` to `dest_path` on `dest` (replacing a file
/// there; its parent must exist); returns the bytes copied.
///
/// Within one object store the copy is the store's own (server-side, one
/// request). Otherwise the source is read in [`CopyOptions::reads`]
/// parallel reads at a time (through the IO engine for mounts and local
/// files, concurrent ranged GETs for objects) and written in order; an
/// object appears only when its upload completes, so a failed or
/// cancelled copy leaves no partial object. `progress` gets the bytes of
/// each piece written. `cancel` is checked between pieces.
pub fn copy_between(
    src: &dyn FileSystem,
    src_path: &str,
    dest: &dyn FileSystem,
    dest_path: &str,
    options: &CopyOptions,
    progress: &mut dyn FnMut(u64),
    cancel: &CancelToken,
) -> Result<u64> {
    if options.chunk == 0 || options.reads == 0 {
        return Err(Error::InvalidArgument {
            argument: "copy options".into(),
            reason: format!(
                "chunk and reads must be positive, got {} and {}",
                options.chunk, options.reads
            ),
        });
    }
    cancel.poll_check("copy")?;
    if std::ptr::addr_eq(src, dest) && src.copies_server_side() {
        let size = src.get_file_info(src_path)?.size.unwrap_or(0);
        src.copy_file(src_path, dest_path)?;
        progress(size);
        return Ok(size);
    }
    let file = src.open_input_file(src_path)?;
    let size = file.size()?;
    let mut out = dest.open_output_stream(dest_path, None)?;
    let copied = (|| {
        let mut buf = vec![0u8; options.chunk.saturating_mul(options.reads)];
        let mut offset = 0u64;
        while offset < size {
            cancel.poll_check("copy")?;
            let want = (size - offset).min(buf.len() as u64) as usize;
            let mut requests: Vec<(u64, &mut [u8])> = buf[..want]
                .chunks_mut(options.chunk)
                .enumerate()
                .map(|(i, piece)| (offset + (i * options.chunk) as u64, piece))
                .collect();
            let counts = file.read_many_into(&mut requests)?;
            drop(requests);
            // Pieces are full up to the end of the file: a short one means
            // the source shrank since it was opened.
            let got = counts
                .iter()
                .zip(buf[..want].chunks(options.chunk))
                .take_while(|(n, piece)| **n == piece.len())
                .map(|(n, _)| *n)
                .sum::<usize>();
            if got > 0 {
                out.write(&buf[..got])?;
                progress(got as u64);
            }
            if got < want {
                return Err(shrank(src_path));
            }
            offset += want as u64;
        }
        out.close()?;
        Ok(size)
    })();
    if copied.is_err() {
        abort(out.as_mut());
    }
    copied
}

/// An output stream given up on after a failure; the failure is what the
/// caller reports, so an abort's own error is dropped.
fn abort(out: &mut dyn OutputStream) {
    let _ = out.abort();
}

/// The source ended before the size it had when opened (it was truncated
/// or replaced while copying): `EIO`, as a short read is.
fn shrank(path: &str) -> Error {
    Error::errno(
        "copy (the source ended before its size when opened)",
        path,
        libc::EIO,
    )
}
