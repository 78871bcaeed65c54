//! The shard plan: which rows each (rank, worker) reads, in which order.
//!
//! Rows are numbered in a per-epoch layout (row groups in file order, or
//! shuffled with `(seed, epoch)`), and the rows still to be read are cut into
//! `world_size × num_workers` contiguous spans of equal length. Every span
//! has the same number of rows, so every rank yields the same number of
//! batches; spans are disjoint and together cover every row once (or, when
//! the remainder wraps around, at least once). Everything here is a pure
//! function of its inputs.

/// A deterministic generator (SplitMix64): the plan must come out the same
/// in every process and every release, which a library RNG does not promise.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for a tuple of seeds.
    pub fn new(seeds: &[u64]) -> SplitMix64 {
        let mut state = 0x243F_6A88_85A3_08D3u64;
        for &s in seeds {
            state = SplitMix64(state ^ s).next_u64();
        }
        SplitMix64(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer below `n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let r = self.next_u64();
            if r < zone {
                return r % n;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// Salts that keep the generators of different purposes independent.
const GROUP_ORDER_SALT: u64 = 0x6772_6f75_7073; // "groups"
const WINDOW_SALT: u64 = 0x7769_6e64_6f77; // "window"

/// A half-open range of layout positions.
pub type Interval = (u64, u64);

/// Rows `start..end` of one row group, numbered within the group (after
/// filtering, the n-th matching row is row n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRange {
    /// Index into the dataset's list of row groups.
    pub group: usize,
    /// First row.
    pub start: u64,
    /// One past the last row.
    pub end: u64,
}

impl RowRange {
    /// Rows in the segment.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One epoch's order of rows: the row groups in order (shuffled or not)
/// with their rows laid end to end.
#[derive(Debug, Clone)]
pub struct Layout {
    order: Vec<usize>,
    ends: Vec<u64>,
}

impl Layout {
    /// The layout of groups with `group_rows` rows each, for `(seed, epoch)`.
    pub fn new(group_rows: &[u64], shuffle: bool, seed: u64, epoch: u64) -> Layout {
        let mut order: Vec<usize> = (0..group_rows.len()).collect();
        if shuffle {
            SplitMix64::new(&[GROUP_ORDER_SALT, seed, epoch]).shuffle(&mut order);
        }
        let mut total = 0;
        let ends = order
            .iter()
            .map(|&g| {
                total += group_rows[g];
                total
            })
            .collect();
        Layout { order, ends }
    }

    /// Rows in the layout.
    pub fn total(&self) -> u64 {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The row groups in layout order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The segments holding layout positions `start..end` (`end <= total`).
    pub fn row_ranges(&self, start: u64, end: u64, out: &mut Vec<RowRange>) {
        let mut pos = start;
        let mut i = self.ends.partition_point(|&e| e <= pos);
        while pos < end && i < self.order.len() {
            let group_start = if i == 0 { 0 } else { self.ends[i - 1] };
            let stop = end.min(self.ends[i]);
            if stop > pos {
                out.push(RowRange {
                    group: self.order[i],
                    start: pos - group_start,
                    end: stop - group_start,
                });
            }
            pos = stop;
            i += 1;
        }
    }
}

/// Rows per span when `remaining` rows are cut into `parts` spans.
pub fn span_len(remaining: u64, parts: u64, drop_remainder: bool) -> u64 {
    Cut::Rows { drop_remainder }.span_len(remaining, parts)
}

/// How the units still to be read (rows, or the tokens of packed
/// sequences) are cut into equal spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Rows: `remaining / parts` per span, dropping the rest, or rounded up
    /// with the shortfall wrapping around to the start.
    Rows {
        /// Drop the rest rather than wrap around.
        drop_remainder: bool,
    },
    /// Tokens: every span holds whole batches of `batch` tokens (the rest
    /// is left out), or, with `pad`, `remaining / parts` tokens, its last
    /// batch padded. Never wraps: no token is read twice.
    Tokens {
        /// Tokens per batch.
        batch: u64,
        /// Keep a last partial batch (padded) instead of leaving it out.
        pad: bool,
    },
}

impl Cut {
    /// Units per span when `remaining` units are cut into `parts` spans.
    pub fn span_len(&self, remaining: u64, parts: u64) -> u64 {
        if parts == 0 || remaining == 0 {
            return 0;
        }
        match *self {
            Cut::Rows {
                drop_remainder: true,
            } => remaining / parts,
            Cut::Rows {
                drop_remainder: false,
            } => remaining.div_ceil(parts),
            Cut::Tokens { pad: true, .. } => remaining / parts,
            Cut::Tokens { batch, pad: false } => remaining / parts / batch.max(1) * batch.max(1),
        }
    }
}

/// Total length of `intervals`.
pub fn intervals_len(intervals: &[Interval]) -> u64 {
    intervals.iter().map(|(a, b)| b - a).sum()
}

/// Positions `from..to` of the concatenation of `intervals`, wrapping
/// around past its end, as layout intervals.
fn concat_slice(intervals: &[Interval], mut from: u64, to: u64, out: &mut Vec<Interval>) {
    let total = intervals_len(intervals);
    if total == 0 {
        return;
    }
    while from < to {
        let lap_from = from % total;
        let take = (to - from).min(total - lap_from);
        let mut skip = lap_from;
        let mut need = take;
        for &(a, b) in intervals {
            let len = b - a;
            if skip >= len {
                skip -= len;
                continue;
            }
            let n = (len - skip).min(need);
            out.push((a + skip, a + skip + n));
            need -= n;
            skip = 0;
            if need == 0 {
                break;
            }
        }
        from += take;
    }
}

/// Which span of the cut a (rank, worker) reads, and how the cut is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// Ranks in the job.
    pub world_size: u64,
    /// This rank.
    pub rank: u64,
    /// DataLoader workers per rank (1 when iterating in the main process).
    pub num_workers: u64,
    /// This worker.
    pub worker: u64,
    /// How the span length is found.
    pub cut: Cut,
}

impl ShardSpec {
    /// Spans in the cut.
    pub fn parts(&self) -> u64 {
        self.world_size * self.num_workers
    }

    /// This (rank, worker)'s span.
    pub fn index(&self) -> u64 {
        self.rank * self.num_workers + self.worker
    }
}

/// The layout intervals of span `index` of `parts` over `remaining`.
pub fn span_intervals(remaining: &[Interval], parts: u64, index: u64, cut: Cut) -> Vec<Interval> {
    let len = cut.span_len(intervals_len(remaining), parts);
    let mut out = Vec::new();
    concat_slice(remaining, index * len, (index + 1) * len, &mut out);
    out
}

/// The segments one (rank, worker) reads, in order.
pub fn worker_row_ranges(
    layout: &Layout,
    remaining: &[Interval],
    spec: &ShardSpec,
) -> Vec<RowRange> {
    let mut out = Vec::new();
    for (a, b) in span_intervals(remaining, spec.parts(), spec.index(), spec.cut) {
        layout.row_ranges(a, b, &mut out);
    }
    out
}

/// The units left of each span after `consumed[worker]` units of every
/// rank's span `worker` were read, and those the cut left out: what an
/// elastic resume re-partitions (no span of the old cut held the left-out
/// units, so they are read once by the new one).
pub fn unconsumed(
    remaining: &[Interval],
    world_size: u64,
    num_workers: u64,
    cut: Cut,
    consumed: &[u64],
) -> Vec<Interval> {
    let parts = world_size * num_workers;
    let len = cut.span_len(intervals_len(remaining), parts);
    let mut out = Vec::new();
    for rank in 0..world_size {
        for worker in 0..num_workers {
            let index = rank * num_workers + worker;
            let done = consumed.get(worker as usize).copied().unwrap_or(0).min(len);
            concat_slice(remaining, index * len + done, (index + 1) * len, &mut out);
        }
    }
    let total = intervals_len(remaining);
    if parts * len < total {
        concat_slice(remaining, parts * len, total, &mut out);
    }
    // Adjacent pieces merge, keeping saved states short.
    let mut merged: Vec<Interval> = Vec::with_capacity(out.len());
    for (a, b) in out {
        match merged.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Rows each worker of a rank has consumed after the rank took `batches`
/// batches from a DataLoader with `num_workers` workers (which hands out
/// batches round-robin, worker 0 first), each worker's span holding
/// `span_rows` rows.
pub fn consumed_by_worker(
    batches: u64,
    num_workers: u64,
    batch_size: u64,
    span_rows: u64,
) -> Vec<u64> {
    let workers = num_workers.max(1);
    (0..workers)
        .map(|w| {
            let taken = batches / workers + u64::from(w < batches % workers);
            (taken * batch_size).min(span_rows)
        })
        .collect()
}

/// Batches a worker yields from `rows` rows.
pub fn batch_count(rows: u64, batch_size: u64, drop_last: bool) -> u64 {
    if batch_size == 0 {
        return 0;
    }
    if drop_last {
        rows / batch_size
    } else {
        rows.div_ceil(batch_size)
    }
}

/// The permutation of a shuffle window of `len` rows: output row i is input
/// row `perm[i]`.
pub fn window_permutation(len: usize, seed: u64, epoch: u64, span: u64, window: u64) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..len as u32).collect();
    SplitMix64::new(&[WINDOW_SALT, seed, epoch, span, window]).shuffle(&mut perm);
    perm
}

/// Encode intervals as `a-b,c-d` (a saved state holds only ints and strings).
pub fn encode_intervals(intervals: &[Interval]) -> String {
    intervals
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Decode [`encode_intervals`]' format; None when malformed.
pub fn decode_intervals(text: &str) -> Option<Vec<Interval>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-')?;
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((a, b))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows_of(layout: &Layout, segs: &[RowRange], group_rows: &[u64]) -> Vec<u64> {
        // Global row ids: group g's row r is offset(g) + r.
        let offsets: Vec<u64> = group_rows
            .iter()
            .scan(0, |acc, &n| {
                let o = *acc;
                *acc += n;
                Some(o)
            })
            .collect();
        let _ = layout;
        segs.iter()
            .flat_map(|s| {
                let base = offsets[s.group];
                (s.start..s.end).map(move |r| base + r)
            })
            .collect()
    }

    fn all_workers(
        group_rows: &[u64],
        world: u64,
        workers: u64,
        drop_remainder: bool,
        shuffle: bool,
        seed: u64,
        epoch: u64,
    ) -> Vec<Vec<u64>> {
        let layout = Layout::new(group_rows, shuffle, seed, epoch);
        let remaining = vec![(0, layout.total())];
        let mut out = Vec::new();
        for rank in 0..world {
            for worker in 0..workers {
                let spec = ShardSpec {
                    world_size: world,
                    rank,
                    num_workers: workers,
                    worker,
                    cut: Cut::Rows { drop_remainder },
                };
                out.push(rows_of(
                    &layout,
                    &worker_row_ranges(&layout, &remaining, &spec),
                    group_rows,
                ));
            }
        }
        out
    }

    proptest! {
        #[test]
        fn spans_are_equal_disjoint_and_complete(
            group_rows in proptest::collection::vec(0u64..50, 0..12),
            world in 1u64..6, workers in 1u64..4, shuffle: bool, seed: u64, epoch in 0u64..3,
        ) {
            let total: u64 = group_rows.iter().sum();
            let spans = all_workers(&group_rows, world, workers, true, shuffle, seed, epoch);
            let expect = total / (world * workers);
            let mut seen = std::collections::HashSet::new();
            for s in &spans {
                prop_assert_eq!(s.len() as u64, expect);
                for &r in s {
                    prop_assert!(r < total);
                    prop_assert!(seen.insert(r), "row {} twice", r);
                }
            }
            prop_assert_eq!(seen.len() as u64, total - total % (world * workers));
        }

        #[test]
        fn wrapped_spans_are_equal_and_cover_every_row(
            group_rows in proptest::collection::vec(0u64..50, 1..12),
            world in 1u64..6, workers in 1u64..4, shuffle: bool, seed: u64,
        ) {
            let total: u64 = group_rows.iter().sum();
            let spans = all_workers(&group_rows, world, workers, false, shuffle, seed, 0);
            let expect = span_len(total, world * workers, false);
            let mut seen = std::collections::HashSet::new();
            for s in &spans {
                prop_assert_eq!(s.len() as u64, expect);
                seen.extend(s.iter().copied());
            }
            prop_assert_eq!(seen.len() as u64, total);
        }

        #[test]
        fn plans_are_deterministic(
            group_rows in proptest::collection::vec(1u64..50, 1..12), seed: u64, epoch in 0u64..5,
        ) {
            let a = all_workers(&group_rows, 3, 2, true, true, seed, epoch);
            let b = all_workers(&group_rows, 3, 2, true, true, seed, epoch);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn elastic_resume_covers_the_rest_once(
            group_rows in proptest::collection::vec(1u64..40, 1..10),
            old_world in 1u64..5, new_world in 1u64..5, workers in 1u64..3,
            consumed_frac in 0u64..=10, drop_remainder: bool,
        ) {
            let layout = Layout::new(&group_rows, true, 7, 1);
            let base = vec![(0, layout.total())];
            let len = span_len(layout.total(), old_world * workers, drop_remainder);
            let consumed: Vec<u64> = (0..workers).map(|w| (len * consumed_frac / 10).saturating_sub(w)).collect();
            let mut before = Vec::new();
            for rank in 0..old_world {
                for worker in 0..workers {
                    let spec = ShardSpec { world_size: old_world, rank, num_workers: workers, worker, cut: Cut::Rows { drop_remainder } };
                    let rows = rows_of(&layout, &worker_row_ranges(&layout, &base, &spec), &group_rows);
                    before.extend(rows[..consumed[worker as usize] as usize].iter().copied());
                }
            }
            let rest = unconsumed(&base, old_world, workers, Cut::Rows { drop_remainder }, &consumed);
            let mut after = Vec::new();
            let mut counts = Vec::new();
            for rank in 0..new_world {
                let spec = ShardSpec { world_size: new_world, rank, num_workers: 1, worker: 0, cut: Cut::Rows { drop_remainder } };
                let rows = rows_of(&layout, &worker_row_ranges(&layout, &rest, &spec), &group_rows);
                counts.push(rows.len());
                after.extend(rows);
            }
            prop_assert!(counts.windows(2).all(|w| w[0] == w[1]));
            let rest_len = intervals_len(&rest);
            if drop_remainder {
                // Exactly once: nothing read before is read again, nothing twice.
                let mut seen: std::collections::HashSet<u64> = before.iter().copied().collect();
                prop_assert_eq!(seen.len(), before.len());
                for r in &after {
                    prop_assert!(seen.insert(*r));
                }
                prop_assert_eq!(after.len() as u64, rest_len - rest_len % new_world);
                // The old cut's left-out rows are in the rest: only the new cut's remainder is lost.
                prop_assert_eq!((before.len() + after.len()) as u64 + rest_len % new_world, layout.total());
            } else {
                let seen: std::collections::HashSet<u64> = before.iter().chain(after.iter()).copied().collect();
                prop_assert_eq!(seen.len() as u64, layout.total());
            }
        }
    }

    #[test]
    fn shuffle_depends_on_seed_and_epoch() {
        let rows: Vec<u64> = vec![10; 20];
        let a = Layout::new(&rows, true, 1, 0);
        assert_eq!(a.order(), Layout::new(&rows, true, 1, 0).order());
        assert_ne!(a.order(), Layout::new(&rows, true, 1, 1).order());
        assert_ne!(a.order(), Layout::new(&rows, true, 2, 0).order());
        assert_eq!(
            Layout::new(&rows, false, 5, 9).order(),
            (0..20).collect::<Vec<_>>()
        );
    }

    #[test]
    fn round_robin_consumption() {
        assert_eq!(consumed_by_worker(5, 2, 10, 100), vec![30, 20]);
        assert_eq!(consumed_by_worker(0, 3, 10, 100), vec![0, 0, 0]);
        assert_eq!(consumed_by_worker(7, 1, 10, 65), vec![65]);
    }

    #[test]
    fn intervals_round_trip() {
        let iv = vec![(0, 5), (9, 12)];
        assert_eq!(decode_intervals(&encode_intervals(&iv)), Some(iv));
        assert_eq!(decode_intervals(""), Some(vec![]));
        assert_eq!(decode_intervals("5-3"), None);
        assert_eq!(decode_intervals("x"), None);
    }

    #[test]
    fn window_permutations_are_permutations() {
        let mut p = window_permutation(100, 1, 2, 3, 4);
        assert_ne!(p, (0..100).collect::<Vec<u32>>());
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<u32>>());
    }
}
