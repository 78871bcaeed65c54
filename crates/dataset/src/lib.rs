//! The hf3fs dataset loader: Parquet files sharded across training ranks and
//! DataLoader workers, read with coalesced, batched IO into pinned buffers
//! and decoded into Arrow record batches.
//!
//! index (footers) → scan (projection, filter) → plan (spans per rank and
//! worker) → pipeline (IO plan, slabs, scheduled reads, push decoder) →
//! reader (pieces in order, batches). Every thread is the process runtime's
//! (hf3fs-core `runtime`); a dataset or reader owns none.

pub mod dataset;
pub mod error;
pub mod filter;
pub mod index;
pub mod parallel;
mod pipeline;
pub mod plan;
pub mod reader;
pub mod retry;
pub mod scan;
pub mod slab;
pub mod source;

pub use dataset::{Dataset, DatasetOptions, Progress};
pub use error::{Error, Result};
