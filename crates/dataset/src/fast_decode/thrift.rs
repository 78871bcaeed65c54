//! Page headers, read from Thrift's compact protocol.
//!
//! The `parquet` crate keeps its page header type private and decompresses
//! every page into a new buffer; reading the header here lets the decoder
//! decompress into one reused buffer per column. Only the fields the
//! decoder needs are kept; every other field (statistics, CRC, ...) is
//! skipped by its wire type, with a depth limit so that hostile input
//! cannot recurse without bound.

use super::corrupt;
use parquet::errors::Result;

/// Nesting the skipper follows: page headers nest three deep (header →
/// data page header → statistics); anything far deeper is not a header.
const MAX_DEPTH: usize = 16;

/// The page kinds of `parquet.thrift`'s `PageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    Data,
    Index,
    Dictionary,
    DataV2,
    Other(i32),
}

/// What the decoder needs of one page header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageHeader {
    pub kind: Option<PageKind>,
    pub uncompressed_size: i32,
    pub compressed_size: i32,
    /// Levels in a data page; values in a dictionary page.
    pub num_values: i32,
    /// The values' encoding (`parquet.thrift`'s `Encoding`).
    pub encoding: i32,
    /// v1 pages: the levels' encodings (RLE = 3 is the only one read here).
    pub def_encoding: i32,
    pub rep_encoding: i32,
    /// v2 pages: rows, and the byte lengths of the uncompressed levels.
    pub num_rows: i32,
    pub def_levels_len: i32,
    pub rep_levels_len: i32,
    /// v2 pages: whether the values are compressed (Thrift's default: yes).
    pub values_compressed: bool,
}

/// Thrift compact protocol wire types.
mod wire {
    pub const TRUE: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const BYTE: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const DOUBLE: u8 = 7;
    pub const BINARY: u8 = 8;
    pub const LIST: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const STRUCT: u8 = 12;
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| corrupt("a page header runs past its bytes"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("a page header varint is longer than 64 bits"))
    }

    fn zigzag(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32> {
        i32::try_from(self.zigzag()?).map_err(|_| corrupt("a page header i32 is out of range"))
    }

    fn skip_bytes(&mut self, n: u64) -> Result<()> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.data.len())
            .ok_or_else(|| corrupt("a page header runs past its bytes"))?;
        self.pos = end;
        Ok(())
    }

    /// Skip one value of wire type `t`.
    fn skip(&mut self, t: u8, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(corrupt("a page header nests too deep"));
        }
        match t {
            wire::TRUE | wire::FALSE => Ok(()),
            wire::BYTE => self.byte().map(drop),
            wire::I16 | wire::I32 | wire::I64 => self.varint().map(drop),
            wire::DOUBLE => self.skip_bytes(8),
            wire::BINARY => {
                let n = self.varint()?;
                self.skip_bytes(n)
            }
            wire::LIST | wire::SET => {
                let head = self.byte()?;
                let n = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let element = head & 0x0f;
                for _ in 0..n {
                    // A list of booleans holds one byte per element.
                    if element == wire::TRUE || element == wire::FALSE {
                        self.byte()?;
                    } else {
                        self.skip(element, depth + 1)?;
                    }
                }
                Ok(())
            }
            wire::MAP => {
                let n = self.varint()?;
                if n == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                for _ in 0..n {
                    self.skip(types >> 4, depth + 1)?;
                    self.skip(types & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            wire::STRUCT => self.fields(depth + 1, |r, _, t| r.skip(t, depth + 1)),
            other => Err(corrupt(format!(
                "a page header holds an unknown Thrift type {other}"
            ))),
        }
    }

    /// Read a struct's fields, handing each (id, type) to `field`, which
    /// reads or skips its value.
    fn fields(
        &mut self,
        depth: usize,
        mut field: impl FnMut(&mut Self, i16, u8) -> Result<()>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(corrupt("a page header nests too deep"));
        }
        let mut last = 0i16;
        loop {
            let head = self.byte()?;
            if head == 0 {
                return Ok(());
            }
            let t = head & 0x0f;
            let id = match head >> 4 {
                0 => i16::try_from(self.zigzag()?)
                    .map_err(|_| corrupt("a page header field id is out of range"))?,
                delta => last.saturating_add(i16::from(delta)),
            };
            last = id;
            field(self, id, t)?;
        }
    }

    /// An i32 field, or a skip if the writer used another type.
    fn int_field(&mut self, t: u8, depth: usize) -> Result<Option<i32>> {
        if t == wire::I32 {
            self.i32().map(Some)
        } else {
            self.skip(t, depth).map(|()| None)
        }
    }
}

/// Read the page header at the start of `data`: the header and its length
/// in bytes.
pub(crate) fn read_page_header(data: &[u8]) -> Result<(PageHeader, usize)> {
    let mut r = Reader { data, pos: 0 };
    let mut h = PageHeader {
        values_compressed: true,
        ..PageHeader::default()
    };
    r.fields(0, |r, id, t| {
        match id {
            1 => {
                h.kind = r.int_field(t, 1)?.map(|k| match k {
                    0 => PageKind::Data,
                    1 => PageKind::Index,
                    2 => PageKind::Dictionary,
                    3 => PageKind::DataV2,
                    other => PageKind::Other(other),
                })
            }
            2 => h.uncompressed_size = r.int_field(t, 1)?.unwrap_or(-1),
            3 => h.compressed_size = r.int_field(t, 1)?.unwrap_or(-1),
            // DataPageHeader
            5 if t == wire::STRUCT => r.fields(1, |r, id, t| {
                match id {
                    1 => h.num_values = r.int_field(t, 2)?.unwrap_or(-1),
                    2 => h.encoding = r.int_field(t, 2)?.unwrap_or(-1),
                    3 => h.def_encoding = r.int_field(t, 2)?.unwrap_or(-1),
                    4 => h.rep_encoding = r.int_field(t, 2)?.unwrap_or(-1),
                    _ => r.skip(t, 2)?,
                }
                Ok(())
            })?,
            // DictionaryPageHeader
            7 if t == wire::STRUCT => r.fields(1, |r, id, t| {
                match id {
                    1 => h.num_values = r.int_field(t, 2)?.unwrap_or(-1),
                    2 => h.encoding = r.int_field(t, 2)?.unwrap_or(-1),
                    _ => r.skip(t, 2)?,
                }
                Ok(())
            })?,
            // DataPageHeaderV2
            8 if t == wire::STRUCT => r.fields(1, |r, id, t| {
                match (id, t) {
                    (1, _) => h.num_values = r.int_field(t, 2)?.unwrap_or(-1),
                    (3, _) => h.num_rows = r.int_field(t, 2)?.unwrap_or(-1),
                    (4, _) => h.encoding = r.int_field(t, 2)?.unwrap_or(-1),
                    (5, _) => h.def_levels_len = r.int_field(t, 2)?.unwrap_or(-1),
                    (6, _) => h.rep_levels_len = r.int_field(t, 2)?.unwrap_or(-1),
                    (7, wire::TRUE) => h.values_compressed = true,
                    (7, wire::FALSE) => h.values_compressed = false,
                    _ => r.skip(t, 2)?,
                }
                Ok(())
            })?,
            _ => r.skip(t, 1)?,
        }
        Ok(())
    })?;
    Ok((h, r.pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact-protocol writer for the tests' headers.
    struct Writer(Vec<u8>, Vec<i16>);

    impl Writer {
        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
        }
        fn field(&mut self, id: i16, t: u8) {
            let delta = id - *self.1.last().unwrap();
            if (1..=15).contains(&delta) {
                self.0.push(((delta as u8) << 4) | t);
            } else {
                self.0.push(t);
                self.varint(((id << 1) ^ (id >> 15)) as u16 as u64);
            }
            *self.1.last_mut().unwrap() = id;
        }
        fn i32(&mut self, id: i16, v: i32) {
            self.field(id, wire::I32);
            self.varint(((v << 1) ^ (v >> 31)) as u32 as u64);
        }
        fn begin(&mut self, id: i16) {
            self.field(id, wire::STRUCT);
            self.1.push(0);
        }
        fn end(&mut self) {
            self.0.push(0);
            self.1.pop();
        }
    }

    fn v2_header() -> Vec<u8> {
        let mut w = Writer(Vec::new(), vec![0]);
        w.i32(1, 3);
        w.i32(2, 1000);
        w.i32(3, 400);
        // Statistics-like junk in field 4's place: a binary and a list.
        w.field(4, wire::BINARY);
        w.varint(3);
        w.0.extend_from_slice(b"abc");
        w.begin(8);
        w.i32(1, 90);
        w.i32(2, 0);
        w.i32(3, 10);
        w.i32(4, 8);
        w.i32(5, 12);
        w.i32(6, 7);
        w.field(7, wire::FALSE);
        w.field(8, wire::LIST);
        w.0.push((2 << 4) | wire::I64);
        w.varint(5);
        w.varint(6);
        w.end();
        // A field id far past the last one (a long-form header).
        w.i32(100, -5);
        w.end();
        w.0
    }

    #[test]
    fn a_v2_header_reads_with_unknown_fields_skipped() {
        let bytes = v2_header();
        let (h, len) = read_page_header(&bytes).unwrap();
        assert_eq!(len, bytes.len());
        assert_eq!(h.kind, Some(PageKind::DataV2));
        assert_eq!((h.uncompressed_size, h.compressed_size), (1000, 400));
        assert_eq!((h.num_values, h.num_rows, h.encoding), (90, 10, 8));
        assert_eq!((h.def_levels_len, h.rep_levels_len), (12, 7));
        assert!(!h.values_compressed);
    }

    #[test]
    fn every_truncation_of_a_header_is_an_error() {
        let bytes = v2_header();
        for n in 0..bytes.len() {
            assert!(read_page_header(&bytes[..n]).is_err(), "{n} bytes");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![(1 << 4) | wire::STRUCT; 100];
        bytes.extend(std::iter::repeat_n(0, 101));
        assert!(read_page_header(&bytes).is_err());
    }
}
