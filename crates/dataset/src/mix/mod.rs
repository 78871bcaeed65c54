//! Mixing datasets in fixed proportions.
//!
//! A sample is a packed sequence, or a row when the sources are not packed.
//! Every (rank, worker) interleaves its own span of each source, one
//! sample at a time, by one deterministic schedule: Tijdeman's solution
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

pub mod reader;
pub mod schedule;

use arrow_schema::SchemaRef;

pub use reader::{MixedBatch, MixedReader};
pub use schedule::{Draw, MixCursor, Schedule, Stop};

use crate::dataset::{same_cut, Dataset, EpochPosition};
use crate::error::{Error, Result};
use crate::pack::TokenType;
use crate::plan::consumed_by_worker;

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
pub struct MixPosition {
    /// The mixture's epoch (each source starts at it).
    pub epoch: u64,
    /// Each source's cut.
    pub sources: Vec<EpochPosition>,
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

impl MixPosition {
    /// The worker index DataLoader worker `worker` draws as (see `rotation`).
    pub fn span_of(&self, worker: u64) -> u64 {
        (worker + self.rotation) % self.num_workers.max(1)
    }
}

/// What a mixture's samples are.
#[derive(Debug, Clone)]
pub enum Samples {
    /// Packed sequences of `seq_len` tokens.
    Sequences {
        /// Tokens per sequence.
        seq_len: usize,
        /// The tokens' type.
        token_type: TokenType,
    },
    /// Rows of one schema.
    Rows {
        /// The sources' schema (before the `source` column is added).
        schema: SchemaRef,
    },
}

/// The column (or batch key) holding each sample's source index.
pub const SOURCE_COLUMN: &str = "source";

/// Datasets mixed in fixed proportions.
#[derive(Debug, Clone)]
pub struct Mixture {
    sources: Vec<Dataset>,
    options: MixOptions,
    /// Samples per batch.
    per_batch: usize,
    samples: Samples,
}

/// What a source's samples look like, to compare it with the others.
fn sample_shape(i: usize, s: &Dataset) -> Result<(usize, String, Samples)> {
    match (s.pack(), s.token_type()) {
        (Some(pack), Some(token_type)) => {
            if !pack.drop_partial {
                return Err(Error::invalid(
                    "datasets",
                    format!(
                        "source {i} pads its last batch (drop_partial=False); a mixture draws \
                         whole sequences"
                    ),
                ));
            }
            let text = format!(
                "packs {} x {} tokens of {}",
                pack.sequences_per_batch, pack.seq_len, token_type.data_type
            );
            let samples = Samples::Sequences {
                seq_len: pack.seq_len,
                token_type: token_type.clone(),
            };
            Ok((pack.sequences_per_batch, text, samples))
        }
        _ => {
            let schema = s.schema();
            if schema.field_with_name(SOURCE_COLUMN).is_ok() {
                return Err(Error::invalid(
                    "datasets",
                    format!(
                        "source {i} has a column {SOURCE_COLUMN:?}, which a mixture's batches use \
                         for each row's source: leave it out (columns=[...])"
                    ),
                ));
            }
            let batch = s.batch_units() as usize;
            let text = format!("batches {batch} rows of {schema:?}");
            Ok((batch, text, Samples::Rows { schema }))
        }
    }
}

impl Mixture {
    /// Mix `sources`: all packed alike (the same sequence length, sequences
    /// per batch and token type, whole batches only), or all unpacked with
    /// the same batch size and schema.
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
        let mut first: Option<(usize, String, Samples)> = None;
        for (i, s) in sources.iter().enumerate() {
            let this = sample_shape(i, s)?;
            match &first {
                None => first = Some(this),
                Some(f) if f.1 != this.1 => {
                    return Err(Error::invalid(
                        "datasets",
                        format!(
                            "source {i} {}, source 0 {}: mixed sources need the same pack (or \
                             batch size and columns)",
                            this.1, f.1
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        let Some((per_batch, _, samples)) = first else {
            return Err(Error::invalid(
                "datasets",
                "a mixture needs at least one source",
            ));
        };
        Ok(Mixture {
            sources,
            options,
            per_batch,
            samples,
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

    /// What the samples are.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }

    /// Units (tokens, or rows) of a source per sample.
    fn unit(&self) -> u64 {
        match &self.samples {
            Samples::Sequences { seq_len, .. } => *seq_len as u64,
            Samples::Rows { .. } => 1,
        }
    }

    /// A fresh epoch's progress for a cut of `world_size × num_workers`.
    pub fn start(&self, epoch: u64, world_size: u64, num_workers: u64) -> MixPosition {
        MixPosition {
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

    /// Samples a span of `progress`'s cut holds of `source`.
    fn samples_of(&self, source: usize, progress: &EpochPosition) -> u64 {
        let dataset = &self.sources[source];
        let span = dataset.span_units(progress);
        match &self.samples {
            Samples::Sequences { seq_len, .. } => span / *seq_len as u64,
            // A reader that drops a short last batch never yields its rows.
            Samples::Rows { .. } if dataset.options().drop_last => {
                span / self.per_batch as u64 * self.per_batch as u64
            }
            Samples::Rows { .. } => span,
        }
    }

    /// The cursor of a span at the start of `progress`'s cut.
    pub fn cursor(&self, progress: &MixPosition) -> Result<MixCursor> {
        let schedule = Schedule::new(&self.options.weights, self.options.seed, progress.epoch)?;
        let left = (0..self.sources.len())
            .map(|i| self.samples_of(i, &progress.sources[i]))
            .collect();
        let mut full = Vec::with_capacity(self.sources.len());
        for i in 0..self.sources.len() {
            let fresh = self.sources[i].start(0, progress.world_size, progress.num_workers);
            let samples = self.samples_of(i, &fresh);
            if samples == 0 {
                // It would end every epoch at its first draw, silently.
                let (what, need) = match &self.samples {
                    Samples::Sequences { .. } => ("tokens", "a batch of tokens"),
                    Samples::Rows { .. } => ("rows", "a row"),
                };
                return Err(Error::invalid(
                    "datasets",
                    format!(
                        "source {i} has too few {what} ({}) to give each of {} ranks x {} \
                         workers {need}",
                        self.sources[i].num_units(),
                        progress.world_size,
                        progress.num_workers
                    ),
                ));
            }
            full.push(samples);
        }
        Ok(MixCursor::new(schedule, left, full, self.options.stop))
    }

    /// Batches each worker of the cut yields over the whole of `progress`.
    pub fn batches_per_worker(&self, progress: &MixPosition) -> Result<u64> {
        Ok(self.cursor(progress)?.remaining() / self.per_batch as u64)
    }

    /// Sequences each source gives a worker over the whole of `progress`.
    pub fn draws_per_source(&self, progress: &MixPosition) -> Result<Vec<u64>> {
        let mut cursor = self.cursor(progress)?;
        let batches = cursor.remaining() / self.per_batch as u64;
        cursor.advance(batches * self.per_batch as u64);
        Ok(cursor.counts().to_vec())
    }

    /// `progress` after the rank took `batches` more batches from a
    /// DataLoader (round-robin over its workers).
    pub fn after_batches(&self, progress: &MixPosition, batches: u64) -> MixPosition {
        let workers = progress.num_workers.max(1);
        let taken = consumed_by_worker(batches, workers, self.per_batch as u64, u64::MAX);
        let mut next = progress.clone();
        for (w, draws) in taken.iter().enumerate() {
            let index = progress.span_of(w as u64) as usize;
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
        saved: &MixPosition,
        world_size: u64,
        num_workers: u64,
        worker: u64,
    ) -> Result<MixPosition> {
        if saved.sources.len() != self.sources.len() {
            return Err(Error::State(format!(
                "the state has {} sources, this mixture {}",
                saved.sources.len(),
                self.sources.len()
            )));
        }
        if same_cut(
            (saved.world_size, saved.num_workers, saved.worker),
            (world_size, num_workers, worker),
        )? {
            return Ok(saved.clone());
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
                c.push(cursor.taken_in_epoch(i) * self.unit());
            }
        }
        let mut sources = Vec::with_capacity(n);
        for (i, source) in self.sources.iter().enumerate() {
            let progress = EpochPosition {
                consumed: std::mem::take(&mut consumed[i]),
                rotation: 0,
                worker: None,
                ..saved.sources[i].clone()
            };
            sources.push(source.resume(&progress, world_size, num_workers, 0)?);
        }
        Ok(MixPosition {
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
    pub fn reader(&self, progress: &MixPosition, rank: u64, worker: u64) -> Result<MixedReader> {
        if worker >= progress.num_workers {
            return Err(Error::invalid(
                "worker",
                format!("{worker} is not below num_workers {}", progress.num_workers),
            ));
        }
        let index = progress.span_of(worker);
        let mut cursor = self.cursor(progress)?;
        let draws = progress.draws.get(index as usize).copied().unwrap_or(0);
        cursor.advance(draws);
        let mut sources = Vec::with_capacity(self.sources.len());
        for i in 0..self.sources.len() {
            let source_progress = self.source_progress(progress, &cursor, i, index);
            sources.push(self.source_reader(i, &source_progress, rank, index)?);
        }
        Ok(MixedReader::new(
            self.clone(),
            progress,
            rank,
            index,
            cursor,
            sources,
        ))
    }

    /// A reader of source `i`'s samples of `progress` for worker index `index`.
    fn source_reader(
        &self,
        i: usize,
        progress: &EpochPosition,
        rank: u64,
        index: u64,
    ) -> Result<reader::SourceReader> {
        let dataset = &self.sources[i];
        Ok(match self.samples {
            Samples::Sequences { .. } => reader::SourceReader::Packed(Box::new(
                dataset.packed_source(progress, rank, index)?,
            )),
            Samples::Rows { .. } => reader::SourceReader::Rows(Box::new(reader::RowSource::new(
                dataset.reader(progress, rank, index)?,
            ))),
        })
    }

    /// Source `i`'s reader at its epoch `epoch` (a restart), from its start.
    fn restarted_reader(
        &self,
        i: usize,
        epoch: u64,
        cut: (u64, u64),
        rank: u64,
        index: u64,
    ) -> Result<reader::SourceReader> {
        let progress = self.sources[i].start(epoch, cut.0, cut.1);
        self.source_reader(i, &progress, rank, index)
    }

    /// Source `i`'s progress once `cursor` was drawn, for worker index `index`.
    fn source_progress(
        &self,
        progress: &MixPosition,
        cursor: &MixCursor,
        i: usize,
        index: u64,
    ) -> EpochPosition {
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
            *c = cursor.taken_in_epoch(i) * self.unit();
        }
        p
    }
}
