//! Mixing packed datasets in fixed proportions.
//!
//! Every (rank, worker) interleaves its own span of each source, one
//! sequence at a time, by one deterministic schedule: Tijdeman's solution
//! of the chairman assignment problem, which keeps every prefix of the
//! stream within `1 - 1/(2n - 2)` sequences of each source's share (a
//! greedy "most behind first" can drift past one). The schedule's state is
//! the number of draws, so a saved position is a few integers and a resume
//! replays it exactly.
//!
//! A mixture stops when a source runs out (`FirstExhausted`), or restarts a
//! finished source with its next epoch's shuffle until every source has
//! finished once (`AllExhausted`); a batch the stop cuts short is left out.
//! Every span of a source has the same number of sequences, so every
//! (rank, worker) draws the same schedule and yields the same number of
//! batches.

use crate::dataset::{Dataset, Progress};
use crate::error::{Error, Result};
use crate::pack::source::PackedSource;
use crate::pack::{PackedBatch, PackedBuilder, TokenType};
use crate::plan::{consumed_by_worker, SplitMix64};
use hf3fs_core::CancelToken;

/// Salt of the tie order's generator.
const TIE_ORDER_SALT: u64 = 0x006d_6978_7475_7265; // "mixture"

/// When a mixture ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// When the schedule asks a finished source for a sequence.
    FirstExhausted,
    /// When every source has finished once (finished ones restart).
    AllExhausted,
}

impl Stop {
    /// Parse `first_exhausted` / `all_exhausted`.
    pub fn parse(text: &str) -> Option<Stop> {
        match text {
            "first_exhausted" => Some(Stop::FirstExhausted),
            "all_exhausted" => Some(Stop::AllExhausted),
            _ => None,
        }
    }
}

/// Which source each draw takes from: at draw `t`, among the sources at
/// least `delta` behind their share `t × w`, the one whose next sequence
/// is due first (`(count + 1 - delta) / w`), ties in a per-epoch order.
#[derive(Debug, Clone)]
pub struct Schedule {
    weights: Vec<f64>,
    counts: Vec<u64>,
    draws: u64,
    delta: f64,
    /// Tie order: lower first.
    tie_rank: Vec<usize>,
}

/// Slack of the float comparisons (shares are sums of a few products).
const EPSILON: f64 = 1e-9;

impl Schedule {
    /// A schedule over `weights` (positive; normalized here), its ties
    /// ordered by `(seed, epoch)`.
    pub fn new(weights: &[f64], seed: u64, epoch: u64) -> Result<Schedule> {
        if weights.is_empty() {
            return Err(Error::invalid(
                "weights",
                "a mixture needs at least one source",
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w > 0.0)) {
            return Err(Error::invalid(
                "weights",
                format!("every weight must be a positive number, got {w}"),
            ));
        }
        let total: f64 = weights.iter().sum();
        let n = weights.len();
        let mut order: Vec<usize> = (0..n).collect();
        SplitMix64::new(&[TIE_ORDER_SALT, seed, epoch]).shuffle(&mut order);
        let mut tie_rank = vec![0; n];
        for (rank, &i) in order.iter().enumerate() {
            tie_rank[i] = rank;
        }
        Ok(Schedule {
            weights: weights.iter().map(|w| w / total).collect(),
            counts: vec![0; n],
            draws: 0,
            delta: if n > 1 { 1.0 / (2 * n - 2) as f64 } else { 0.0 },
            tie_rank,
        })
    }

    /// The source of the next draw (not taken yet).
    pub fn peek(&self) -> usize {
        let t = (self.draws + 1) as f64;
        let mut best: Option<(f64, usize, usize)> = None;
        for (i, &w) in self.weights.iter().enumerate() {
            let c = self.counts[i] as f64;
            if t * w - c < self.delta - EPSILON {
                continue;
            }
            let due = (c + 1.0 - self.delta) / w;
            let better = match best {
                None => true,
                Some((d, rank, _)) => {
                    due < d - EPSILON || ((due - d).abs() <= EPSILON && self.tie_rank[i] < rank)
                }
            };
            if better {
                best = Some((due, self.tie_rank[i], i));
            }
        }
        // Some source is always eligible (the lags sum to 1); the fallback
        // only guards against rounding.
        best.map_or_else(|| self.most_behind(t), |(_, _, i)| i)
    }

    fn most_behind(&self, t: f64) -> usize {
        let lag = |i: usize| t * self.weights[i] - self.counts[i] as f64;
        (0..self.weights.len())
            .max_by(|&a, &b| lag(a).total_cmp(&lag(b)).then(b.cmp(&a)))
            .unwrap_or(0)
    }

    /// Take a draw from `source`.
    pub fn take(&mut self, source: usize) {
        self.counts[source] += 1;
        self.draws += 1;
    }

    /// Draws per source so far.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The normalized weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

/// One draw of a mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// The source drawn from.
    pub source: usize,
    /// Whether the source was restarted with its next epoch first.
    pub restarted: bool,
}

/// A mixture's position: the schedule and what each source has left.
#[derive(Debug, Clone)]
pub struct MixCursor {
    schedule: Schedule,
    /// Sequences left in each source's current epoch.
    left: Vec<u64>,
    /// Sequences of each source's current epoch when it started.
    epoch_total: Vec<u64>,
    /// Sequences of a fresh epoch of each source.
    full: Vec<u64>,
    restarts: Vec<u64>,
    finished_once: Vec<bool>,
    stop: Stop,
    stopped: bool,
}

impl MixCursor {
    /// A cursor at the start of sources with `left` sequences each (a fresh
    /// epoch has `full`).
    pub fn new(schedule: Schedule, left: Vec<u64>, full: Vec<u64>, stop: Stop) -> MixCursor {
        let n = left.len();
        MixCursor {
            schedule,
            epoch_total: left.clone(),
            left,
            full,
            restarts: vec![0; n],
            finished_once: vec![false; n],
            stop,
            stopped: false,
        }
    }

    /// The next draw, or None when the mixture stops.
    pub fn draw(&mut self) -> Option<Draw> {
        if self.stopped {
            return None;
        }
        let i = self.schedule.peek();
        let mut restarted = false;
        if self.left[i] == 0 {
            self.finished_once[i] = true;
            let all = self.finished_once.iter().all(|&f| f);
            if self.stop == Stop::FirstExhausted || all || self.full[i] == 0 {
                self.stopped = true;
                return None;
            }
            self.restarts[i] += 1;
            self.left[i] = self.full[i];
            self.epoch_total[i] = self.full[i];
            restarted = true;
        }
        self.left[i] -= 1;
        self.schedule.take(i);
        Some(Draw {
            source: i,
            restarted,
        })
    }

    /// Make `n` draws; the draws made when the mixture stopped first.
    pub fn advance(&mut self, n: u64) -> u64 {
        for done in 0..n {
            if self.draw().is_none() {
                return done;
            }
        }
        n
    }

    /// Draws left before the mixture stops.
    pub fn remaining(&self) -> u64 {
        let mut probe = self.clone();
        probe.advance(u64::MAX)
    }

    /// Times each source was restarted.
    pub fn restarts(&self) -> &[u64] {
        &self.restarts
    }

    /// Sequences each source's current epoch has given.
    pub fn taken_in_epoch(&self, source: usize) -> u64 {
        self.epoch_total[source] - self.left[source]
    }

    /// Draws per source so far.
    pub fn counts(&self) -> &[u64] {
        self.schedule.counts()
    }
}

/// How a mixture draws.
#[derive(Debug, Clone, PartialEq)]
pub struct MixOptions {
    /// Weight of each source (normalized).
    pub weights: Vec<f64>,
    /// When it ends.
    pub stop: Stop,
    /// Seed of the per-epoch tie order.
    pub seed: u64,
}

/// Where a mixture's epoch stands: each source's cut (consumed nothing:
/// the draws say what was taken) and the draws each worker index made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixProgress {
    /// The mixture's epoch (each source starts at it).
    pub epoch: u64,
    /// Each source's cut.
    pub sources: Vec<Progress>,
    /// Ranks of the cut.
    pub world_size: u64,
    /// Workers per rank of the cut.
    pub num_workers: u64,
    /// Draws made by each worker index (the same on every rank).
    pub draws: Vec<u64>,
    /// Set when only this worker's entry of `draws` is known.
    pub worker: Option<u64>,
    /// DataLoader worker w reads worker index `(w + rotation) % num_workers`.
    pub rotation: u64,
}

/// Packed datasets mixed in fixed proportions.
#[derive(Debug, Clone)]
pub struct Mixture {
    sources: Vec<Dataset>,
    options: MixOptions,
    seq_len: usize,
    sequences: usize,
    token_type: TokenType,
}

impl Mixture {
    /// Mix `sources` (packed alike: the same sequence length, sequences
    /// per batch and token type, whole batches only).
    pub fn new(sources: Vec<Dataset>, options: MixOptions) -> Result<Mixture> {
        if sources.len() != options.weights.len() {
            return Err(Error::invalid(
                "weights",
                format!(
                    "{} weights for {} sources",
                    options.weights.len(),
                    sources.len()
                ),
            ));
        }
        Schedule::new(&options.weights, options.seed, 0)?;
        let mut shape = None;
        for (i, s) in sources.iter().enumerate() {
            let (Some(pack), Some(token_type)) = (s.pack(), s.token_type()) else {
                return Err(Error::invalid(
                    "datasets",
                    format!("source {i} is not packed: mix packed datasets (pack=Pack(...))"),
                ));
            };
            if !pack.drop_partial {
                return Err(Error::invalid(
                    "datasets",
                    format!("source {i} pads its last batch (drop_partial=False); a mixture draws whole sequences"),
                ));
            }
            let this = (pack.seq_len, pack.sequences_per_batch, token_type.clone());
            match &shape {
                None => shape = Some(this),
                Some(first) if *first != this => {
                    return Err(Error::invalid(
                        "datasets",
                        format!(
                            "source {i} packs {} x {} tokens of {}, source 0 {} x {} of {}: mixed \
                             sources need the same pack",
                            this.1, this.0, this.2.data_type, first.1, first.0, first.2.data_type
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let Some((seq_len, sequences, token_type)) = shape else {
            return Err(Error::invalid(
                "datasets",
                "a mixture needs at least one source",
            ));
        };
        Ok(Mixture {
            sources,
            options,
            seq_len,
            sequences,
            token_type,
        })
    }

    /// The same mixture with each source's readers decoding `threads`
    /// pieces at once (0: one per core).
    pub fn with_decode_threads(mut self, threads: usize) -> Mixture {
        self.sources = self
            .sources
            .into_iter()
            .map(|s| s.with_decode_threads(threads))
            .collect();
        self
    }

    /// The sources.
    pub fn sources(&self) -> &[Dataset] {
        &self.sources
    }

    /// Sequences per batch.
    pub fn sequences_per_batch(&self) -> usize {
        self.sequences
    }

    /// A fresh epoch's progress for a cut of `world_size × num_workers`.
    pub fn start(&self, epoch: u64, world_size: u64, num_workers: u64) -> MixProgress {
        MixProgress {
            epoch,
            sources: self
                .sources
                .iter()
                .map(|s| s.start(epoch, world_size, num_workers))
                .collect(),
            world_size,
            num_workers,
            draws: vec![0; num_workers.max(1) as usize],
            worker: None,
            rotation: 0,
        }
    }

    fn sequences_of(&self, source: usize, progress: &Progress) -> u64 {
        self.sources[source].span_units(progress) / self.seq_len as u64
    }

    /// The cursor of a span at the start of `progress`'s cut.
    pub fn cursor(&self, progress: &MixProgress) -> Result<MixCursor> {
        let schedule = Schedule::new(&self.options.weights, self.options.seed, progress.epoch)?;
        let left = (0..self.sources.len())
            .map(|i| self.sequences_of(i, &progress.sources[i]))
            .collect();
        let full = (0..self.sources.len())
            .map(|i| {
                let fresh = self.sources[i].start(0, progress.world_size, progress.num_workers);
                self.sequences_of(i, &fresh)
            })
            .collect();
        Ok(MixCursor::new(schedule, left, full, self.options.stop))
    }

    /// Batches each worker of the cut yields over the whole of `progress`.
    pub fn batches_per_worker(&self, progress: &MixProgress) -> Result<u64> {
        Ok(self.cursor(progress)?.remaining() / self.sequences as u64)
    }

    /// Sequences each source gives a worker over the whole of `progress`.
    pub fn draws_per_source(&self, progress: &MixProgress) -> Result<Vec<u64>> {
        let mut cursor = self.cursor(progress)?;
        let batches = cursor.remaining() / self.sequences as u64;
        cursor.advance(batches * self.sequences as u64);
        Ok(cursor.counts().to_vec())
    }

    /// `progress` after the rank took `batches` more batches from a
    /// DataLoader (round-robin over its workers).
    pub fn after_batches(&self, progress: &MixProgress, batches: u64) -> MixProgress {
        let workers = progress.num_workers.max(1);
        let taken = consumed_by_worker(batches, workers, self.sequences as u64, u64::MAX);
        let mut next = progress.clone();
        for (w, draws) in taken.iter().enumerate() {
            let index = ((w as u64 + progress.rotation) % workers) as usize;
            if let Some(d) = next.draws.get_mut(index) {
                *d = d.saturating_add(*draws);
            }
        }
        next.rotation = (progress.rotation + batches) % workers;
        next.worker = None;
        next
    }

    /// Bring saved progress to a cut of `world_size × num_workers`: the same
    /// cut replays its draws; a different one re-partitions each source's
    /// sequences not yet drawn.
    pub fn resume(
        &self,
        saved: &MixProgress,
        world_size: u64,
        num_workers: u64,
        worker: u64,
    ) -> Result<MixProgress> {
        if saved.sources.len() != self.sources.len() {
            return Err(Error::State(format!(
                "the state has {} sources, this mixture {}",
                saved.sources.len(),
                self.sources.len()
            )));
        }
        if saved.world_size == world_size && saved.num_workers == num_workers {
            if let Some(w) = saved.worker {
                if w != worker {
                    return Err(Error::State(format!(
                        "the state was saved by DataLoader worker {w} and is loaded into worker {worker}"
                    )));
                }
            }
            return Ok(saved.clone());
        }
        if saved.worker.is_some() {
            return Err(Error::State(format!(
                "the state is one DataLoader worker's (saved with {} ranks x {} workers); resuming \
                 with {world_size} ranks x {num_workers} workers needs the rank's state: call \
                 state_dict(batches=<batches this rank consumed>, num_workers=<DataLoader workers>)",
                saved.world_size, saved.num_workers
            )));
        }
        // Tokens each worker index took of each source.
        let n = self.sources.len();
        let mut consumed = vec![Vec::with_capacity(saved.draws.len()); n];
        for &draws in &saved.draws {
            let mut cursor = self.cursor(saved)?;
            cursor.advance(draws);
            for (i, c) in consumed.iter_mut().enumerate() {
                if cursor.restarts()[i] > 0 {
                    return Err(Error::State(format!(
                        "source {i} was restarted with its next epoch before the state was saved; \
                         such a state resumes only with the same {} ranks x {} workers",
                        saved.world_size, saved.num_workers
                    )));
                }
                c.push(cursor.taken_in_epoch(i) * self.seq_len as u64);
            }
        }
        let mut sources = Vec::with_capacity(n);
        for (i, source) in self.sources.iter().enumerate() {
            let progress = Progress {
                consumed: std::mem::take(&mut consumed[i]),
                rotation: 0,
                worker: None,
                ..saved.sources[i].clone()
            };
            sources.push(source.resume(&progress, world_size, num_workers, 0)?);
        }
        Ok(MixProgress {
            epoch: saved.epoch,
            sources,
            world_size,
            num_workers,
            draws: vec![0; num_workers.max(1) as usize],
            worker: None,
            rotation: 0,
        })
    }

    /// A reader of `rank`/`worker`'s mixed batches of `progress`.
    pub fn reader(&self, progress: &MixProgress, rank: u64, worker: u64) -> Result<MixedReader> {
        if worker >= progress.num_workers {
            return Err(Error::invalid(
                "worker",
                format!("{worker} is not below num_workers {}", progress.num_workers),
            ));
        }
        let index = (worker + progress.rotation) % progress.num_workers;
        let mut cursor = self.cursor(progress)?;
        let draws = progress.draws.get(index as usize).copied().unwrap_or(0);
        cursor.advance(draws);
        let mut sources = Vec::with_capacity(self.sources.len());
        for (i, dataset) in self.sources.iter().enumerate() {
            let source_progress = self.source_progress(progress, &cursor, i, index);
            sources.push(dataset.packed_source(&source_progress, rank, index)?);
        }
        Ok(MixedReader {
            mixture: self.clone(),
            progress_epoch: progress.epoch,
            world_size: progress.world_size,
            num_workers: progress.num_workers,
            rank,
            index,
            cursor,
            sources,
            finished: false,
        })
    }

    /// Source `i`'s progress once `cursor` was drawn, for worker index `index`.
    fn source_progress(
        &self,
        progress: &MixProgress,
        cursor: &MixCursor,
        i: usize,
        index: u64,
    ) -> Progress {
        let restarts = cursor.restarts()[i];
        let mut p = if restarts == 0 {
            progress.sources[i].clone()
        } else {
            self.sources[i].start(
                progress.sources[i].epoch + restarts,
                progress.world_size,
                progress.num_workers,
            )
        };
        p.rotation = 0;
        p.worker = None;
        if let Some(c) = p.consumed.get_mut(index as usize) {
            *c = cursor.taken_in_epoch(i) * self.seq_len as u64;
        }
        p
    }
}

/// Mixed packed batches of one (rank, worker).
#[derive(Debug)]
pub struct MixedReader {
    mixture: Mixture,
    progress_epoch: u64,
    world_size: u64,
    num_workers: u64,
    rank: u64,
    index: u64,
    cursor: MixCursor,
    sources: Vec<PackedSource>,
    finished: bool,
}

impl MixedReader {
    /// The next batch (with each sequence's source index); None when the
    /// mixture stops.
    pub fn next_batch(&mut self, cancel: &CancelToken) -> Result<Option<PackedBatch>> {
        if self.finished {
            return Ok(None);
        }
        let outcome = self.next_inner(cancel);
        if !matches!(outcome, Ok(Some(_))) {
            self.finished = true;
        }
        outcome
    }

    fn next_inner(&mut self, cancel: &CancelToken) -> Result<Option<PackedBatch>> {
        let m = &self.mixture;
        let mut out = PackedBuilder::new(&m.token_type, m.seq_len, m.sequences);
        for _ in 0..m.sequences {
            let Some(draw) = self.cursor.draw() else {
                return Ok(None);
            };
            if draw.restarted {
                // The finished source goes on with its next epoch's shuffle.
                let source = &m.sources[draw.source];
                let progress = source.start(
                    self.progress_epoch + self.cursor.restarts()[draw.source],
                    self.world_size,
                    self.num_workers,
                );
                self.sources[draw.source] =
                    source.packed_source(&progress, self.rank, self.index)?;
            }
            let n = self.sources[draw.source].fill_sequence(&mut out, cancel)?;
            if n < m.seq_len {
                return Err(Error::invalid(
                    "mix",
                    format!(
                        "source {} ended {n} tokens into a sequence the plan counted (its footers' \
                         token counts disagree with the data)",
                        draw.source
                    ),
                ));
            }
            out.push_source(draw.source);
        }
        out.finish().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_prefix_is_within_one_of_its_share(
            weights in proptest::collection::vec(0.01f64..10.0, 1..7),
            seed: u64, steps in 1usize..3000,
        ) {
            let mut s = Schedule::new(&weights, seed, 0).unwrap();
            let w = s.weights().to_vec();
            for t in 1..=steps {
                let i = s.peek();
                s.take(i);
                for (j, &c) in s.counts().iter().enumerate() {
                    let share = t as f64 * w[j];
                    prop_assert!((c as f64 - share).abs() < 1.0, "t={} source {} count {} share {}", t, j, c, share);
                }
            }
        }

        #[test]
        fn cursors_replay_exactly(
            left in proptest::collection::vec(0u64..200, 1..5), seed: u64,
            all: bool, cut in 0u64..600,
        ) {
            let weights: Vec<f64> = (0..left.len()).map(|i| (i + 1) as f64).collect();
            let stop = if all { Stop::AllExhausted } else { Stop::FirstExhausted };
            let make = || MixCursor::new(Schedule::new(&weights, seed, 3).unwrap(), left.clone(), left.clone(), stop);
            let mut whole = make();
            let mut seq = Vec::new();
            while let Some(d) = whole.draw() { seq.push(d.source); }
            let mut first = make();
            let done = first.advance(cut);
            prop_assert_eq!(done, cut.min(seq.len() as u64));
            let mut rest = Vec::new();
            while let Some(d) = first.draw() { rest.push(d.source); }
            prop_assert_eq!(&seq[done as usize..], &rest[..]);
            prop_assert_eq!(make().remaining(), seq.len() as u64);
            if !all {
                // Nothing drawn past a source's end.
                for (i, &n) in left.iter().enumerate() {
                    prop_assert!(seq.iter().filter(|&&s| s == i).count() as u64 <= n);
                }
            } else if left.iter().all(|&n| n > 0) {
                // Every source finished at least once.
                for (i, &n) in left.iter().enumerate() {
                    prop_assert!(seq.iter().filter(|&&s| s == i).count() as u64 >= n);
                }
            }
        }
    }

    #[test]
    fn ties_depend_on_seed_and_epoch() {
        let first = |seed, epoch| {
            let s = Schedule::new(&[1.0; 6], seed, epoch).unwrap();
            s.peek()
        };
        let firsts: std::collections::HashSet<usize> = (0..40).map(|e| first(1, e)).collect();
        assert!(firsts.len() > 1);
        assert_eq!(first(3, 4), first(3, 4));
    }

    #[test]
    fn bad_weights_are_refused() {
        assert!(Schedule::new(&[], 0, 0).is_err());
        assert!(Schedule::new(&[1.0, 0.0], 0, 0).is_err());
        assert!(Schedule::new(&[1.0, f64::NAN], 0, 0).is_err());
        assert!(Schedule::new(&[-1.0], 0, 0).is_err());
    }
}
