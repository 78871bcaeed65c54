//! Page decompression into one reused buffer, through the codec crates the
//! `parquet` crate itself uses (its own codec module is private): the zstd
//! context and the buffer live as long as the column's decode, so a page
//! costs its decompression and nothing else.

use std::io::Read;

use parquet::basic::Compression;
use parquet::errors::Result;

use super::{corrupt, unsupported};

/// One column's decompressor.
pub(crate) enum Codec {
    None,
    Zstd(Box<zstd::bulk::Decompressor<'static>>),
    Snappy(snap::raw::Decoder),
    Lz4Raw,
    Gzip,
    Brotli,
}

/// The most brotli's reader buffers at once: a page's size up to this (a
/// page of the usual 1 MiB in one read), not more for an outsized one.
const BROTLI_BUFFER: usize = 1 << 20;

impl Codec {
    pub fn new(compression: Compression) -> Result<Codec> {
        Ok(match compression {
            Compression::UNCOMPRESSED => Codec::None,
            Compression::ZSTD(_) => Codec::Zstd(Box::new(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| corrupt(format!("zstd decompressor: {e}")))?,
            )),
            Compression::SNAPPY => Codec::Snappy(snap::raw::Decoder::new()),
            Compression::LZ4_RAW => Codec::Lz4Raw,
            Compression::GZIP(_) => Codec::Gzip,
            Compression::BROTLI(_) => Codec::Brotli,
            // Hadoop-framed LZ4 and LZO: the column reader handles them.
            other => return Err(unsupported(format!("{other} pages"))),
        })
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Codec::None)
    }

    /// Decompress `input` into `out` (replacing what it held), which must
    /// come to `size` bytes.
    pub fn decompress(&mut self, input: &[u8], size: usize, out: &mut Vec<u8>) -> Result<()> {
        let got = match self {
            Codec::None => {
                out.clear();
                out.extend_from_slice(input);
                out.len()
            }
            Codec::Zstd(z) => {
                // Written into the buffer's capacity: nothing is zeroed.
                out.clear();
                out.reserve(size);
                z.decompress_to_buffer(input, out)
                    .map_err(|e| corrupt(format!("zstd: {e}")))?
            }
            Codec::Snappy(s) => {
                // Only a buffer grown past what it held before is zeroed.
                out.resize(size, 0);
                s.decompress(input, out)
                    .map_err(|e| corrupt(format!("snappy: {e}")))?
            }
            Codec::Lz4Raw => {
                out.resize(size, 0);
                lz4_flex::block::decompress_into(input, out)
                    .map_err(|e| corrupt(format!("lz4: {e}")))?
            }
            Codec::Gzip => {
                out.clear();
                flate2::read::MultiGzDecoder::new(input)
                    .take(size as u64 + 1)
                    .read_to_end(out)
                    .map_err(|e| corrupt(format!("gzip: {e}")))?
            }
            Codec::Brotli => {
                out.clear();
                brotli::Decompressor::new(input, size.clamp(1, BROTLI_BUFFER))
                    .take(size as u64 + 1)
                    .read_to_end(out)
                    .map_err(|e| corrupt(format!("brotli: {e}")))?
            }
        };
        if got != size {
            return Err(corrupt(format!(
                "a page decompressed to {got} bytes, not the {size} its header gives"
            )));
        }
        out.truncate(size);
        Ok(())
    }
}
