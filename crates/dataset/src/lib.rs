//! The hf3fs dataset loader: Parquet files sharded across training ranks and
//! DataLoader workers, read with coalesced, batched IO into pinned buffers
//! and decoded into Arrow record batches.
//!
//! index (footers) → scan (projection, filter) → plan (spans per rank and
//! worker) → reader (IO plan, slabs, push decoder, batches).

pub mod dataset;
pub mod error;
pub mod filter;
pub mod index;
pub mod parallel;
pub mod plan;
pub mod reader;
pub mod retry;
pub mod scan;
pub mod slab;
pub mod source;

pub use dataset::{Dataset, DatasetOptions, Progress};
pub use error::{Error, Result};
