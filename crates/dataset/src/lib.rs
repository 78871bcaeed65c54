//! The hf3fs dataset loader: Parquet files sharded across training ranks and
//! DataLoader workers, read with coalesced, batched IO into pinned buffers
//! and decoded into Arrow record batches.
//!
//! index (footers) → scan (projection, filter) → plan (spans per rank and
//! worker) → pipeline (IO plan, slabs, scheduled reads) → decode (the fast
//! path for primitive and list columns, arrow-rs's push decoder for the
//! rest) → reader (pieces in order, batches). IO and decoding run on the
//! process runtime's pools (hf3fs-core `runtime`: the scheduler, the file
//! system pool, the rayon CPU pool); a dataset or reader owns no thread.

pub mod dataset;
pub mod error;
mod fast_decode;
pub mod filter;
pub mod footer_cache;
pub mod index;
pub mod mix;
pub mod pack;
pub(crate) mod parallel;
mod pipeline;
pub mod plan;
pub mod reader;
pub(crate) mod retry;
pub mod scan;
pub(crate) mod slab;
pub mod source;

pub use dataset::{Dataset, DatasetOptions, EpochPosition};
pub use error::{Error, Result};
