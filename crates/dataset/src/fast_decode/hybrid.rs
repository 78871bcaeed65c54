//! Parquet's RLE / bit-packing hybrid, decoded by runs.
//!
//! A run header is a ULEB128 varint: low bit 1, a bit-packed run of
//! `(header >> 1) * 8` values, LSB first; low bit 0, an RLE run of
//! `header >> 1` copies of one value stored in `ceil(bit_width / 8)` bytes.
//! Dictionary indices are gathered straight into the output (an RLE run is
//! a fill, a bit-packed run 32 values at a time through a stack array with
//! one bounds check per pack); levels are handed out as runs, so a long run
//! of equal levels costs one step, not one per level.

use std::mem::MaybeUninit;

use super::corrupt;
use parquet::errors::Result;

/// Values unpacked at once: 32 values of `w` bits are exactly `w` 32-bit
/// words, so every width unpacks from whole words with no carry between packs.
pub(crate) const PACK: usize = 32;

/// Unpack 32 values of `W` bits from the first `4 * W` bytes of `input`.
/// `W` is a constant, so the compiler unrolls the loop into shifts and masks.
#[inline(always)]
fn unpack32<const W: usize>(input: &[u8], out: &mut [u32; PACK]) {
    if W == 0 {
        *out = [0; PACK];
        return;
    }
    let mut words = [0u32; 33];
    for (word, bytes) in words.iter_mut().zip(input[..4 * W].chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let mask = if W == 32 { u32::MAX } else { (1u32 << W) - 1 };
    for (i, value) in out.iter_mut().enumerate() {
        let bit = i * W;
        let (word, shift) = (bit / 32, bit % 32);
        let mut v = words[word] >> shift;
        if shift + W > 32 {
            v |= words[word + 1] << (32 - shift);
        }
        *value = v & mask;
    }
}

type Unpack = fn(&[u8], &mut [u32; PACK]);

/// One unpacker per bit width, 0 to 32.
const UNPACK: [Unpack; 33] = [
    unpack32::<0>,
    unpack32::<1>,
    unpack32::<2>,
    unpack32::<3>,
    unpack32::<4>,
    unpack32::<5>,
    unpack32::<6>,
    unpack32::<7>,
    unpack32::<8>,
    unpack32::<9>,
    unpack32::<10>,
    unpack32::<11>,
    unpack32::<12>,
    unpack32::<13>,
    unpack32::<14>,
    unpack32::<15>,
    unpack32::<16>,
    unpack32::<17>,
    unpack32::<18>,
    unpack32::<19>,
    unpack32::<20>,
    unpack32::<21>,
    unpack32::<22>,
    unpack32::<23>,
    unpack32::<24>,
    unpack32::<25>,
    unpack32::<26>,
    unpack32::<27>,
    unpack32::<28>,
    unpack32::<29>,
    unpack32::<30>,
    unpack32::<31>,
    unpack32::<32>,
];

/// One run, as [`Hybrid::next_run`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run<'a> {
    /// `len` copies of `value`.
    Rle { value: u32, len: usize },
    /// `len` bit-packed values in `bytes` (which may hold a few more).
    Packed { bytes: &'a [u8], len: usize },
}

/// The current run's remaining values.
#[derive(Debug, Clone, Copy)]
enum Current {
    Rle {
        value: u32,
        left: usize,
    },
    /// A bit-packed run: its next value is the first of the pack at `at`.
    Packed {
        at: usize,
        left: usize,
    },
}

/// No run under way (every field initialized: a payload-less variant would
/// leave bytes the optimizer may still read).
const NO_RUN: Current = Current::Rle { value: 0, left: 0 };

/// A decoder over one hybrid-encoded stream of `bit_width`-bit values.
pub(crate) struct Hybrid<'a> {
    data: &'a [u8],
    pos: usize,
    bit_width: usize,
    unpack: Unpack,
    current: Current,
    /// Values unpacked but not handed out yet (`buffered[taken..filled]`).
    buffered: [u32; PACK],
    taken: usize,
    filled: usize,
}

impl<'a> Hybrid<'a> {
    pub fn new(data: &'a [u8], bit_width: u8) -> Result<Hybrid<'a>> {
        let unpack = *UNPACK
            .get(usize::from(bit_width))
            .ok_or_else(|| corrupt(format!("a bit width of {bit_width} (at most 32)")))?;
        Ok(Hybrid {
            data,
            pos: 0,
            bit_width: usize::from(bit_width),
            unpack,
            current: NO_RUN,
            buffered: [0; PACK],
            taken: 0,
            filled: 0,
        })
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| corrupt("values run past the end of their page"))?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(corrupt("a run header is longer than 64 bits"))
    }

    /// Read the next run header into `current`.
    fn start_run(&mut self) -> Result<()> {
        let header = self.varint()?;
        let count = usize::try_from(header >> 1).map_err(|_| corrupt("a run is too long"))?;
        if header & 1 == 1 {
            let groups_bytes = count
                .checked_mul(self.bit_width)
                .ok_or_else(|| corrupt("a run is too long"))?;
            let end = self.pos.saturating_add(groups_bytes);
            // The last run of a page may stop short of its padding: only
            // the values whose bits are all there can be read.
            let present = end.min(self.data.len()) - self.pos;
            let values = count.saturating_mul(8);
            let left = match (present * 8).checked_div(self.bit_width) {
                None => values,
                Some(whole) => values.min(whole),
            };
            self.current = Current::Packed { at: self.pos, left };
            self.pos = end.min(self.data.len());
        } else {
            let width = self.bit_width.div_ceil(8);
            let bytes = self
                .data
                .get(self.pos..self.pos + width)
                .ok_or_else(|| corrupt("values run past the end of their page"))?;
            let mut value = 0u32;
            for (i, &b) in bytes.iter().enumerate() {
                value |= u32::from(b) << (8 * i);
            }
            if self.bit_width < 32 && value >> self.bit_width != 0 {
                return Err(corrupt(format!(
                    "an RLE value {value} wider than {} bits",
                    self.bit_width
                )));
            }
            self.pos += width;
            self.current = Current::Rle { value, left: count };
        }
        Ok(())
    }

    /// Unpack the pack at `at` of a run with `left` values into the buffer
    /// (zero-padded when the page holds fewer than 32 values' bytes).
    fn buffer_pack(&mut self, at: usize, left: usize) -> usize {
        let bytes = 4 * self.bit_width;
        let n = left.min(PACK);
        match self.data.get(at..at + bytes) {
            Some(input) => (self.unpack)(input, &mut self.buffered),
            None => {
                let mut padded = [0u8; 4 * PACK];
                let tail = &self.data[at.min(self.data.len())..];
                padded[..tail.len().min(bytes)].copy_from_slice(&tail[..tail.len().min(bytes)]);
                (self.unpack)(&padded, &mut self.buffered);
            }
        }
        self.taken = 0;
        self.filled = n;
        n
    }

    /// Gather the dictionary entries of the next `n` indices onto `out`.
    pub fn gather<T: Copy>(&mut self, dict: &[T], mut n: usize, out: &mut Vec<T>) -> Result<()> {
        out.reserve(n);
        let bad = |i: u32| {
            corrupt(format!(
                "dictionary index {i} outside a dictionary of {}",
                dict.len()
            ))
        };
        while n > 0 {
            if self.taken < self.filled {
                let k = n.min(self.filled - self.taken);
                let indices = &self.buffered[self.taken..self.taken + k];
                for &i in indices {
                    out.push(*dict.get(i as usize).ok_or_else(|| bad(i))?);
                }
                self.taken += k;
                n -= k;
                continue;
            }
            match self.current {
                Current::Rle { left: 0, .. } => self.start_run()?,
                Current::Rle { value, left } => {
                    let k = n.min(left);
                    let v = *dict.get(value as usize).ok_or_else(|| bad(value))?;
                    out.resize(out.len() + k, v);
                    n -= k;
                    self.current = if left == k {
                        NO_RUN
                    } else {
                        Current::Rle {
                            value,
                            left: left - k,
                        }
                    };
                }
                Current::Packed { mut at, mut left } => {
                    if left == 0 {
                        self.current = NO_RUN;
                        continue;
                    }
                    let bytes = 4 * self.bit_width;
                    // Whole packs whose bytes are all there, unpacked and
                    // gathered by one loop made for this bit width.
                    let available = match bytes {
                        0 => usize::MAX,
                        _ => (self.data.len() - at) / bytes,
                    };
                    let packs = (n.min(left) / PACK).min(available);
                    if packs > 0 {
                        let input = &self.data[at..at + packs * bytes];
                        gather_packs(self.bit_width, input, dict, packs, out).map_err(bad)?;
                        at += packs * bytes;
                        left -= packs * PACK;
                        n -= packs * PACK;
                    }
                    if n > 0 && left > 0 {
                        let got = self.buffer_pack(at, left);
                        at += bytes;
                        left -= got;
                    }
                    self.current = Current::Packed { at, left };
                }
            }
        }
        Ok(())
    }

    /// The next run of at most `max` values (`None` at the stream's end).
    pub fn next_run(&mut self, max: usize) -> Result<Option<Run<'a>>> {
        loop {
            if self.taken < self.filled {
                // Values left from a partly taken pack: handed out one at a
                // time, as RLE runs of one (rare: only after a caller took
                // part of a pack).
                let value = self.buffered[self.taken];
                self.taken += 1;
                return Ok(Some(Run::Rle { value, len: 1 }));
            }
            match self.current {
                Current::Rle { left: 0, .. } => {
                    if self.pos >= self.data.len() {
                        return Ok(None);
                    }
                    self.start_run()?;
                }
                Current::Rle { value, left } => {
                    let len = left.min(max);
                    self.current = if left == len {
                        NO_RUN
                    } else {
                        Current::Rle {
                            value,
                            left: left - len,
                        }
                    };
                    if len > 0 {
                        return Ok(Some(Run::Rle { value, len }));
                    }
                    return Ok(None);
                }
                Current::Packed { at, left } => {
                    if left == 0 {
                        self.current = NO_RUN;
                        continue;
                    }
                    // Whole packs when asked for enough of them; a partial
                    // pack goes through the buffer.
                    let packs = left.min(max) / PACK;
                    if packs > 0 {
                        let bytes = packs * 4 * self.bit_width;
                        let end = (at + bytes).min(self.data.len());
                        self.current = Current::Packed {
                            at: at + bytes,
                            left: left - packs * PACK,
                        };
                        return Ok(Some(Run::Packed {
                            bytes: &self.data[at..end],
                            len: packs * PACK,
                        }));
                    }
                    if max == 0 {
                        return Ok(None);
                    }
                    let got = self.buffer_pack(at, left);
                    self.current = Current::Packed {
                        at: at + 4 * self.bit_width,
                        left: left - got,
                    };
                }
            }
        }
    }

    /// Unpack whole packs of `run` (a `Run::Packed` of this stream) into
    /// `out`, which must hold `len` values.
    pub fn unpack_run(&self, bytes: &[u8], out: &mut [u32]) {
        let step = 4 * self.bit_width;
        let mut pack = [0u32; PACK];
        for (i, chunk) in out.chunks_mut(PACK).enumerate() {
            let at = i * step;
            match bytes.get(at..at + step) {
                Some(input) => (self.unpack)(input, &mut pack),
                None => {
                    let mut padded = [0u8; 4 * PACK];
                    let tail = bytes.get(at..).unwrap_or_default();
                    padded[..tail.len().min(step)].copy_from_slice(&tail[..tail.len().min(step)]);
                    (self.unpack)(&padded, &mut pack);
                }
            }
            chunk.copy_from_slice(&pack[..chunk.len()]);
        }
    }
}

/// Gather the dictionary entries of the `packs` packs of `width`-bit
/// indices in `input` onto `out`; `Err(index)` for an index outside the
/// dictionary (the packs before it are kept).
fn gather_packs<T: Copy>(
    width: usize,
    input: &[u8],
    dict: &[T],
    packs: usize,
    out: &mut Vec<T>,
) -> Result<(), u32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { gather_packs_avx2(width, input, dict, packs, out) };
    }
    gather_packs_any_cpu(width, input, dict, packs, out)
}

/// [`gather_packs`] compiled for AVX2: the same code, which the compiler
/// then unpacks with vector shifts and gathers with `vpgatherdd`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn gather_packs_avx2<T: Copy>(
    width: usize,
    input: &[u8],
    dict: &[T],
    packs: usize,
    out: &mut Vec<T>,
) -> Result<(), u32> {
    gather_packs_any_cpu(width, input, dict, packs, out)
}

#[inline(always)]
fn gather_packs_any_cpu<T: Copy>(
    width: usize,
    input: &[u8],
    dict: &[T],
    packs: usize,
    out: &mut Vec<T>,
) -> Result<(), u32> {
    macro_rules! by_width {
        ($($w:literal)*) => {
            match width {
                $($w => gather_packs_of::<$w, T>(input, dict, packs, out),)*
                // Hybrid::new refuses wider indices.
                _ => Err(u32::MAX),
            }
        };
    }
    by_width!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32)
}

/// [`gather_packs`] for one bit width `W`: the unpacking is inlined and
/// unrolled, each pack of 32 indices checked against the dictionary once.
#[inline(always)]
fn gather_packs_of<const W: usize, T: Copy>(
    input: &[u8],
    dict: &[T],
    packs: usize,
    out: &mut Vec<T>,
) -> Result<(), u32> {
    out.reserve(packs * PACK);
    let start = out.len();
    let spare: &mut [MaybeUninit<T>] = &mut out.spare_capacity_mut()[..packs * PACK];
    let mut indices = [0u32; PACK];
    let mut written = 0;
    let mut result = Ok(());
    for (p, slots) in spare.chunks_exact_mut(PACK).enumerate() {
        unpack32::<W>(&input[p * 4 * W..], &mut indices);
        // One branch per pack instead of one per value.
        let max = indices.iter().fold(0, |m, &i| m.max(i));
        if max as usize >= dict.len() {
            result = Err(max);
            break;
        }
        for (slot, &i) in slots.iter_mut().zip(&indices) {
            // SAFETY: every index is at most `max`, checked above to be
            // inside `dict`.
            slot.write(unsafe { *dict.get_unchecked(i as usize) });
        }
        written += PACK;
    }
    // SAFETY: the first `written` slots past the length were reserved
    // above and written in the loop.
    unsafe { out.set_len(start + written) };
    result
}

/// Encode `values` with the hybrid encoding, bit-packed and RLE runs
/// chosen by `rle_at` (tests, and the fuzz harness's valid inputs).
#[cfg(test)]
pub(crate) fn encode(values: &[u32], bit_width: usize, rle_at: impl Fn(usize) -> bool) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut run = 1;
        while i + run < values.len() && values[i + run] == values[i] {
            run += 1;
        }
        if rle_at(i) || run >= 8 {
            varint(&mut out, (run as u64) << 1);
            let width = bit_width.div_ceil(8);
            out.extend_from_slice(&values[i].to_le_bytes()[..width]);
            i += run;
        } else {
            // Whole groups of 8 (a run in the middle of the stream holds no
            // padding) until a long run or an RLE position starts a group;
            // only the stream's last group is zero-padded.
            let run_at = |at: usize| {
                let mut r = 1;
                while at + r < values.len() && values[at + r] == values[at] {
                    r += 1;
                }
                r
            };
            let mut end = (i + 8).min(values.len());
            while end < values.len() && end == i + 8 * ((end - i) / 8) {
                if run_at(end) >= 8 || rle_at(end) {
                    break;
                }
                end = (end + 8).min(values.len());
            }
            let groups = (end - i).div_ceil(8);
            varint(&mut out, ((groups as u64) << 1) | 1);
            let mut bits = vec![0u8; groups * bit_width];
            for (k, &v) in values[i..end].iter().enumerate() {
                for b in 0..bit_width {
                    if (v >> b) & 1 == 1 {
                        let bit = k * bit_width + b;
                        bits[bit / 8] |= 1 << (bit % 8);
                    }
                }
            }
            out.extend_from_slice(&bits);
            i = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(data: &[u8], width: u8, n: usize) -> Result<Vec<u32>> {
        let dict: Vec<u32> = (0..(1u64 << width).min(1 << 20) as u32).collect();
        let mut h = Hybrid::new(data, width)?;
        let mut out = Vec::new();
        h.gather(&dict, n, &mut out)?;
        Ok(out)
    }

    #[test]
    fn every_width_unpacks_what_was_packed() {
        for width in 0..=32usize {
            let max = if width == 32 {
                u32::MAX
            } else {
                (1u32 << width).wrapping_sub(1)
            };
            let values: Vec<u32> = (0..96u32)
                .map(|i| i.wrapping_mul(2_654_435_761) & max)
                .collect();
            let bytes = encode(&values, width, |_| false);
            let h = Hybrid::new(&bytes, width as u8).unwrap();
            let mut out = vec![0; values.len()];
            h.unpack_run(&bytes[1..], &mut out);
            assert_eq!(out, values, "width {width}");
        }
    }

    #[test]
    fn widths_above_32_are_corrupt() {
        assert!(Hybrid::new(&[], 33).is_err());
    }

    #[test]
    fn an_index_outside_the_dictionary_is_an_error() {
        let bytes = encode(&[0, 1, 2, 3, 4, 5, 6, 7], 3, |_| false);
        let mut h = Hybrid::new(&bytes, 3).unwrap();
        assert!(h.gather(&[1u32, 2, 3], 8, &mut Vec::new()).is_err());
        let bytes = encode(&[5; 40], 3, |_| true);
        let mut h = Hybrid::new(&bytes, 3).unwrap();
        assert!(h.gather(&[1u32, 2, 3], 8, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_stream_that_ends_early_is_an_error() {
        let bytes = encode(&[1; 10], 4, |_| true);
        assert!(decode_all(&bytes, 4, 11).is_err());
        assert_eq!(decode_all(&bytes, 4, 10).unwrap(), vec![1; 10]);
    }

    proptest! {
        #[test]
        fn gather_and_runs_equal_the_values(
            width in 0u8..=32,
            seed in any::<u64>(),
            len in 0usize..700,
            rle_every in 1usize..50,
            takes in proptest::collection::vec(1usize..100, 1..20),
        ) {
            // Every packing width, 0 to 32; the values (and so the
            // dictionary) stay within 16 bits.
            let max = (1u64 << width.min(16)) - 1;
            let mut x = seed | 1;
            let values: Vec<u32> = (0..len).map(|i| {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                // Stretches of repeats, so both run kinds occur.
                if (i / 10) % 3 == 0 { (max / 2) as u32 } else { (x & max) as u32 }
            }).collect();
            let bytes = encode(&values, width as usize, |i| i % rle_every == 0);
            // Gathered in uneven takes.
            let dict: Vec<u32> = (0..=max as u32).collect();
            let mut h = Hybrid::new(&bytes, width).unwrap();
            let mut out = Vec::new();
            let mut at = 0;
            for &t in takes.iter().cycle() {
                if at == len { break; }
                let t = t.min(len - at);
                h.gather(&dict, t, &mut out).unwrap();
                at += t;
            }
            prop_assert_eq!(&out, &values);
            // As runs.
            let mut h = Hybrid::new(&bytes, width).unwrap();
            let mut runs = Vec::new();
            let mut i = 0;
            while runs.len() < len {
                let max_take = takes[i % takes.len()];
                i += 1;
                match h.next_run(max_take.min(len - runs.len())).unwrap() {
                    Some(Run::Rle { value, len }) => runs.extend(std::iter::repeat_n(value, len)),
                    Some(Run::Packed { bytes, len }) => {
                        let mut v = vec![0; len];
                        h.unpack_run(bytes, &mut v);
                        runs.extend(v);
                    }
                    None => break,
                }
            }
            prop_assert_eq!(&runs, &values);
        }

        #[test]
        fn random_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            width in 0u8..=40,
            n in 0usize..2000,
        ) {
            let _ = decode_all(&bytes, width.min(24), n);
            if let Ok(mut h) = Hybrid::new(&bytes, width) {
                let mut total = 0;
                while let Ok(Some(run)) = h.next_run(77) {
                    total += match run { Run::Rle { len, .. } | Run::Packed { len, .. } => len };
                    if total > 100_000 { break; }
                }
            }
        }
    }
}
