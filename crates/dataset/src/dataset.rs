//! A dataset: a scan plus the plan and resume state, the one entry point the
//! bindings use.

use std::sync::Arc;

use arrow_schema::SchemaRef;
use hf3fs_core::fs::CacheOptions;
use hf3fs_core::CancelToken;

use crate::error::{Error, Result};
use crate::filter::Predicate;
use crate::index::{DatasetIndex, IndexOptions};
use crate::pack::source::{PackedReader, PackedSource, Window};
use crate::pack::tokens::{group_tokens, CountSource};
use crate::pack::{PackOptions, TokenType};
use crate::plan::{
    batch_count, consumed_by_worker, intervals_len, unconsumed, worker_row_ranges, Cut, Interval,
    Layout, RowRange, ShardSpec,
};
use crate::reader::{BatchReader, ReaderOptions, DEFAULT_PREFETCH_BYTES};
use crate::scan::{Scan, ScanOptions};
use crate::source::SourceOptions;

/// Rows per batch unless the caller says otherwise (the and
/// pyarrow's `iter_batches` default granularity is similar).
pub const DEFAULT_BATCH_SIZE: usize = 1024;

/// Options of a dataset.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    /// Columns to yield (None: all).
    pub columns: Option<Vec<String>>,
    /// Rows to keep.
    pub filter: Option<Predicate>,
    /// Rows per batch.
    pub batch_size: usize,
    /// Shuffle the row-group order per epoch.
    pub shuffle: bool,
    /// Seed of every shuffle.
    pub seed: u64,
    /// Rows per row-shuffle window (0: none).
    pub shuffle_window: u64,
    /// Drop the rows that do not divide evenly among spans (else wrap around).
    pub drop_remainder: bool,
    /// Drop a last short batch.
    pub drop_last: bool,
    /// In-flight bytes per reader.
    pub prefetch_bytes: u64,
    /// NUMA node of read buffers (-1: none).
    pub numa: i32,
    /// How piece reads are merged; None: as the files' file system suits
    /// ([`hf3fs_core::fs::FileSystem::read_coalescing`]).
    pub cache: Option<CacheOptions>,
    /// Pieces each reader decodes at once on the runtime's CPU pool (0:
    /// as many as it has threads).
    pub decode_threads: usize,
    /// Decode primitive and list-of-primitive columns with the fast path
    /// (see [`crate::scan::fast_decode_from_env`]).
    pub fast_decode: bool,
    /// Footer reading.
    pub index: IndexOptions,
    /// Pack one list column's documents into fixed-length sequences (the
    /// plan then counts tokens, not rows).
    pub pack: Option<PackOptions>,
}

impl Default for DatasetOptions {
    fn default() -> Self {
        DatasetOptions {
            columns: None,
            filter: None,
            batch_size: DEFAULT_BATCH_SIZE,
            shuffle: false,
            seed: 0,
            shuffle_window: 0,
            drop_remainder: true,
            drop_last: false,
            prefetch_bytes: DEFAULT_PREFETCH_BYTES,
            numa: -1,
            // Arrow's defaults suit local disks and parallel file systems:
            // merge only small holes, keep requests below 32 MiB.
            cache: None,
            decode_threads: 0,
            fast_decode: crate::scan::fast_decode_from_env(),
            index: IndexOptions::default(),
            pack: None,
        }
    }
}

/// Where an epoch stands: which rows it covers (`base`, positions of the
/// epoch's layout, cut among the ranks and workers of `world_size ×
/// num_workers`) and how many rows each worker index has consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPosition {
    /// The epoch.
    pub epoch: u64,
    /// Layout positions still to be read when the cut was made (None: all).
    pub base: Option<Vec<Interval>>,
    /// Ranks of the cut.
    pub world_size: u64,
    /// Workers per rank of the cut.
    pub num_workers: u64,
    /// Rows consumed by each worker index (the same on every rank).
    pub consumed: Vec<u64>,
    /// Set when only this worker's entry of `consumed` is known.
    pub worker: Option<u64>,
    /// DataLoader worker w reads span `(w + rotation) % num_workers`: after
    /// a rank took k batches round-robin, the next batch is span k's, and a
    /// restarted DataLoader asks worker 0 first.
    pub rotation: u64,
}

impl EpochPosition {
    /// The span DataLoader worker `worker` reads (see `rotation`).
    pub fn span_of(&self, worker: u64) -> u64 {
        (worker + self.rotation) % self.num_workers.max(1)
    }
}

/// What a packed dataset knows of its tokens.
#[derive(Debug, Clone)]
struct Packing {
    options: PackOptions,
    token_type: TokenType,
    /// The EOS token's bytes.
    eos: Option<Vec<u8>>,
    /// How each group's token count was found.
    count_sources: Arc<Vec<CountSource>>,
}

/// A Parquet dataset ready to be read by any (rank, worker).
#[derive(Debug, Clone)]
pub struct Dataset {
    scan: Arc<Scan>,
    options: DatasetOptions,
    /// `options.cache`, or the file system's choice.
    cache: CacheOptions,
    /// What the plan counts per group: rows, or tokens when packing.
    units: Arc<Vec<u64>>,
    packing: Option<Packing>,
}

impl Dataset {
    /// Index `sources` and apply projection and filter; gives up when
    /// `cancel` fires.
    pub fn open(
        sources: &[String],
        source_options: &SourceOptions,
        options: DatasetOptions,
        cancel: &CancelToken,
    ) -> Result<Dataset> {
        if options.batch_size == 0 {
            return Err(Error::invalid("batch_size", "must be at least 1"));
        }
        if options.prefetch_bytes == 0 {
            return Err(Error::invalid("prefetch_bytes", "must be positive"));
        }
        let columns = match &options.pack {
            None => options.columns.clone(),
            Some(pack) => Some(pack_columns(pack, &options)?),
        };
        let index = Arc::new(DatasetIndex::open(
            sources,
            source_options,
            &options.index,
            cancel,
        )?);
        let scan = Scan::new(
            index,
            &ScanOptions {
                columns,
                filter: options.filter.clone(),
                cancel: cancel.clone(),
                fast_decode: options.fast_decode,
            },
        )?;
        let cache = options.cache.unwrap_or_else(|| {
            scan.index
                .files
                .first()
                .map_or_else(CacheOptions::defaults, |f| f.source.fs.read_coalescing())
        });
        let scan = Arc::new(scan);
        let (units, packing) = match &options.pack {
            None => (scan.group_rows(), None),
            Some(pack) => {
                let token_type =
                    TokenType::of_column(&pack.column, scan.schema.field(0).data_type())?;
                let eos = pack
                    .eos_token
                    .map(|t| token_type.encode("pack.eos_token", t))
                    .transpose()?;
                let root = scan.roots()[0];
                let (tokens, count_sources) = group_tokens(&scan, root, eos.is_some(), cancel)?;
                let packing = Packing {
                    options: pack.clone(),
                    token_type,
                    eos,
                    count_sources: Arc::new(count_sources),
                };
                (tokens, Some(packing))
            }
        };
        Ok(Dataset {
            scan,
            options,
            cache,
            units: Arc::new(units),
            packing,
        })
    }

    /// The packing options (None: rows are yielded as they are).
    pub fn pack(&self) -> Option<&PackOptions> {
        self.packing.as_ref().map(|p| &p.options)
    }

    /// The packed tokens' type.
    pub fn token_type(&self) -> Option<&TokenType> {
        self.packing.as_ref().map(|p| &p.token_type)
    }

    /// What the plan counts per group (rows, or tokens when packing), in
    /// dataset order.
    pub fn group_units(&self) -> &[u64] {
        &self.units
    }

    /// How each group's token count was found (empty unless packing).
    pub fn token_count_sources(&self) -> &[CountSource] {
        self.packing
            .as_ref()
            .map_or(&[][..], |p| p.count_sources.as_slice())
    }

    /// Units (rows, or tokens when packing) per epoch before sharding.
    pub fn num_units(&self) -> u64 {
        self.units.iter().sum()
    }

    /// How spans are cut.
    pub fn cut(&self) -> Cut {
        match &self.packing {
            None => Cut::Rows {
                drop_remainder: self.options.drop_remainder,
            },
            Some(p) => Cut::Tokens {
                batch: p.options.batch_tokens(),
                pad: !p.options.drop_partial,
            },
        }
    }

    /// Units per batch: rows, or tokens when packing.
    pub fn batch_units(&self) -> u64 {
        match &self.packing {
            None => self.options.batch_size as u64,
            Some(p) => p.options.batch_tokens(),
        }
    }

    /// The same dataset with readers decoding `threads` pieces at once (0:
    /// one per core).
    pub fn with_decode_threads(mut self, threads: usize) -> Dataset {
        self.options.decode_threads = threads;
        self
    }

    /// The scan (files, groups, schema).
    pub fn scan(&self) -> &Arc<Scan> {
        &self.scan
    }

    /// The options it was opened with.
    pub fn options(&self) -> &DatasetOptions {
        &self.options
    }

    /// The schema of yielded batches.
    pub fn schema(&self) -> SchemaRef {
        self.scan.schema.clone()
    }

    /// Rows the dataset yields per epoch (before sharding).
    pub fn num_rows(&self) -> u64 {
        self.scan.num_rows()
    }

    /// The epoch's layout.
    pub fn layout(&self, epoch: u64) -> Layout {
        Layout::new(&self.units, self.options.shuffle, self.options.seed, epoch)
    }

    /// A fresh epoch's progress for a cut of `world_size × num_workers`.
    pub fn start(&self, epoch: u64, world_size: u64, num_workers: u64) -> EpochPosition {
        EpochPosition {
            epoch,
            base: None,
            world_size,
            num_workers,
            consumed: vec![0; num_workers.max(1) as usize],
            worker: None,
            rotation: 0,
        }
    }

    fn base<'a>(&self, progress: &'a EpochPosition, full: &'a [Interval]) -> &'a [Interval] {
        progress.base.as_deref().unwrap_or(full)
    }

    /// Units (rows, or tokens when packing) of each span of `progress`'s cut.
    pub fn span_units(&self, progress: &EpochPosition) -> u64 {
        let full = [(0, self.num_units())];
        let base = self.base(progress, &full);
        self.cut().span_len(
            intervals_len(base),
            progress.world_size * progress.num_workers,
        )
    }

    /// Units of `progress`'s cut that no span holds (dropped rows or
    /// tokens; 0 when the cut wraps around).
    pub fn left_out(&self, progress: &EpochPosition) -> u64 {
        let full = [(0, self.num_units())];
        let total = intervals_len(self.base(progress, &full));
        total.saturating_sub(self.span_units(progress) * progress.world_size * progress.num_workers)
    }

    /// Batches each worker of the cut yields over the whole of `progress`.
    pub fn batches_per_worker(&self, progress: &EpochPosition) -> u64 {
        let span = self.span_units(progress);
        match &self.packing {
            None => batch_count(span, self.options.batch_size as u64, self.options.drop_last),
            Some(p) => span.div_ceil(p.options.batch_tokens()),
        }
    }

    /// `progress` after the rank took `batches` more batches from a
    /// DataLoader (round-robin over `progress.num_workers` workers).
    pub fn after_batches(&self, progress: &EpochPosition, batches: u64) -> EpochPosition {
        let workers = progress.num_workers.max(1);
        let span = self.span_units(progress);
        let taken = consumed_by_worker(batches, workers, self.batch_units(), u64::MAX);
        let mut next = progress.clone();
        for (w, rows) in taken.iter().enumerate() {
            let source = progress.span_of(w as u64) as usize;
            if let Some(c) = next.consumed.get_mut(source) {
                *c = c.saturating_add(*rows).min(span);
            }
        }
        next.rotation = (progress.rotation + batches) % workers;
        next.worker = None;
        next
    }

    /// Bring saved progress to a cut of `world_size × num_workers`: the same
    /// cut continues where it stopped; a different one re-partitions the
    /// rows not yet consumed.
    pub fn resume(
        &self,
        saved: &EpochPosition,
        world_size: u64,
        num_workers: u64,
        worker: u64,
    ) -> Result<EpochPosition> {
        if same_cut(
            (saved.world_size, saved.num_workers, saved.worker),
            (world_size, num_workers, worker),
        )? {
            return Ok(saved.clone());
        }
        let full = [(0, self.num_units())];
        let base = self.base(saved, &full);
        let rest = unconsumed(
            base,
            saved.world_size,
            saved.num_workers,
            self.cut(),
            &saved.consumed,
        );
        Ok(EpochPosition {
            epoch: saved.epoch,
            base: Some(rest),
            world_size,
            num_workers,
            consumed: vec![0; num_workers.max(1) as usize],
            worker: None,
            rotation: 0,
        })
    }

    /// The segments (in units) `rank`/`worker` reads of `progress`, the
    /// span index, and the units its worker index has consumed.
    fn worker_span(
        &self,
        progress: &EpochPosition,
        rank: u64,
        worker: u64,
    ) -> Result<(Vec<RowRange>, u64, u64)> {
        if rank >= progress.world_size {
            return Err(Error::invalid(
                "rank",
                format!("{rank} is not below world_size {}", progress.world_size),
            ));
        }
        if worker >= progress.num_workers {
            return Err(Error::invalid(
                "worker",
                format!("{worker} is not below num_workers {}", progress.num_workers),
            ));
        }
        let worker = progress.span_of(worker);
        let spec = ShardSpec {
            world_size: progress.world_size,
            rank,
            num_workers: progress.num_workers,
            worker,
            cut: self.cut(),
        };
        let layout = self.layout(progress.epoch);
        let full = [(0, layout.total())];
        let base = self.base(progress, &full);
        let segments = worker_row_ranges(&layout, base, &spec);
        let consumed = progress.consumed.get(worker as usize).copied().unwrap_or(0);
        Ok((segments, spec.index(), consumed))
    }

    fn reader_options(&self) -> Result<ReaderOptions> {
        let threads = match self.options.decode_threads {
            // All of the CPU pool: pieces beyond its threads would only queue.
            0 => hf3fs_core::runtime::cpu::cpu_threads()
                .map_err(|e| Error::io("<CPU pool>", None, e))?,
            n => n,
        };
        Ok(ReaderOptions {
            batch_size: self.options.batch_size,
            drop_last: self.options.drop_last,
            prefetch_bytes: self.options.prefetch_bytes,
            cache: self.cache,
            numa: self.options.numa,
            decode_threads: threads,
            shuffle_window: 0,
            window_seed: (self.options.seed, 0, 0),
            first_window: 0,
            discard_rows: 0,
        })
    }

    /// A reader of `rank`/`worker`'s rows of `progress`, after the rows its
    /// worker index has consumed.
    pub fn reader(&self, progress: &EpochPosition, rank: u64, worker: u64) -> Result<BatchReader> {
        if self.packing.is_some() {
            return Err(Error::invalid(
                "reader",
                "a packed dataset yields packed batches (packed_reader)",
            ));
        }
        let (mut segments, span, consumed) = self.worker_span(progress, rank, worker)?;
        // Resume at the start of the window holding the next row, then drop
        // the rows of that window already yielded.
        let window = self.options.shuffle_window;
        let (skip, first_window, discard) = match consumed.checked_div(window) {
            Some(w) => (w * window, w, consumed - w * window),
            None => (consumed, 0, 0),
        };
        skip_units(&mut segments, skip);
        BatchReader::new(
            self.scan.clone(),
            segments,
            ReaderOptions {
                shuffle_window: window,
                window_seed: (self.options.seed, progress.epoch, span),
                first_window,
                discard_rows: discard,
                ..self.reader_options()?
            },
        )
    }

    /// The packer of `rank`/`worker`'s tokens of `progress` (not started),
    /// after the tokens its worker index has consumed.
    pub fn packed_source(
        &self,
        progress: &EpochPosition,
        rank: u64,
        worker: u64,
    ) -> Result<PackedSource> {
        let Some(packing) = &self.packing else {
            return Err(Error::invalid(
                "pack",
                "the dataset was opened without pack",
            ));
        };
        let (mut segments, _, consumed) = self.worker_span(progress, rank, worker)?;
        skip_units(&mut segments, consumed);
        let mut windows = Vec::with_capacity(segments.len());
        let mut rows = Vec::with_capacity(segments.len());
        for s in &segments {
            let group_rows = self.scan.groups[s.group].rows();
            windows.push(Window {
                group: s.group,
                rows: group_rows,
                skip: s.start,
                take: s.len(),
                planned: self.units[s.group],
            });
            rows.push(RowRange {
                group: s.group,
                start: 0,
                end: group_rows,
            });
        }
        let reader = BatchReader::new(self.scan.clone(), rows, self.reader_options()?)?;
        Ok(PackedSource::new(
            self.scan.clone(),
            reader,
            windows,
            packing.token_type.clone(),
            packing.eos.clone(),
        ))
    }

    /// A reader of `rank`/`worker`'s packed batches of `progress`.
    pub fn packed_reader(
        &self,
        progress: &EpochPosition,
        rank: u64,
        worker: u64,
    ) -> Result<PackedReader> {
        let source = self.packed_source(progress, rank, worker)?;
        let Some(packing) = &self.packing else {
            return Err(Error::invalid(
                "pack",
                "the dataset was opened without pack",
            ));
        };
        let pad = if packing.options.drop_partial {
            None
        } else {
            let token = packing.options.eos_token.unwrap_or(0);
            Some(packing.token_type.encode("pack.eos_token", token)?)
        };
        Ok(PackedReader::new(
            source,
            packing.options.seq_len,
            packing.options.sequences_per_batch,
            pad,
        ))
    }
}

/// Whether a state saved by `(world_size, num_workers, worker)` (worker:
/// None for a rank's state) resumes `(world_size, num_workers, worker)` as
/// it is (true) or needs its unconsumed units re-cut (false); an error when
/// the worker differs, or when one worker's state would be re-cut (it knows
/// only its own span).
pub(crate) fn same_cut(saved: (u64, u64, Option<u64>), now: (u64, u64, u64)) -> Result<bool> {
    let (saved_world, saved_workers, saved_worker) = saved;
    let (world_size, num_workers, worker) = now;
    if saved_world == world_size && saved_workers == num_workers {
        if let Some(w) = saved_worker {
            if w != worker {
                return Err(Error::State(format!(
                    "the state was saved by DataLoader worker {w} and is loaded into worker {worker}"
                )));
            }
        }
        return Ok(true);
    }
    if saved_worker.is_some() {
        return Err(Error::State(format!(
            "the state is one DataLoader worker's (saved with {saved_world} ranks x {saved_workers} \
             workers); resuming with {world_size} ranks x {num_workers} workers needs the rank's \
             state: call state_dict(batches=<batches this rank consumed>, \
             num_workers=<DataLoader workers>) in the training loop"
        )));
    }
    Ok(false)
}

/// The one column a packed dataset reads; checks the options packing
/// cannot honour.
fn pack_columns(pack: &PackOptions, options: &DatasetOptions) -> Result<Vec<String>> {
    pack.validate()?;
    if let Some(columns) = &options.columns {
        if columns != std::slice::from_ref(&pack.column) {
            return Err(Error::invalid(
                "columns",
                format!(
                    "a packed dataset reads only its pack column {:?} (got {columns:?})",
                    pack.column
                ),
            ));
        }
    }
    if options.shuffle_window > 0 {
        return Err(Error::invalid(
            "shuffle_window",
            "packing cuts the token stream of whole row groups: shuffle the row groups \
             (shuffle=True) instead of rows",
        ));
    }
    if !options.drop_remainder {
        return Err(Error::invalid(
            "drop_remainder",
            "a packed dataset yields every token at most once; to keep the tokens that do \
             not fill a batch, pad them (Pack(drop_partial=False))",
        ));
    }
    Ok(vec![pack.column.clone()])
}

/// Drop the first `rows` units of `segments`.
fn skip_units(segments: &mut Vec<RowRange>, mut rows: u64) {
    let mut drop_count = 0;
    for s in segments.iter_mut() {
        if rows == 0 {
            break;
        }
        let n = rows.min(s.len());
        s.start += n;
        rows -= n;
        if s.is_empty() {
            drop_count += 1;
        }
    }
    segments.drain(..drop_count);
}
