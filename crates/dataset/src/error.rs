//! The dataset crate's one error type: every variant names what the user can
//! act on (the file, the row group, the column, the argument).

use parquet::errors::ParquetError;

/// A dataset result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while indexing, planning or reading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An IO error from the file system (open, list, read), with the offset
    /// of the read when there was one.
    #[error("{path}{}: {source}", .offset.map(|o| format!(" (reading at offset {o})")).unwrap_or_default())]
    Io {
        path: String,
        offset: Option<u64>,
        #[source]
        source: Box<hf3fs_core::Error>,
    },
    /// A file whose footer or metadata cannot be read as Parquet, or that
    /// ends before the bytes its metadata points to. `offset` is where: the
    /// footer (its length and magic, the file's last 8 bytes) or the end of
    /// the data.
    #[error("{path}: not a readable Parquet file: {reason}")]
    Footer {
        path: String,
        offset: Option<u64>,
        reason: String,
    },
    /// Data that does not decode: a corrupt page, a bad compression stream.
    /// `offset` is where the failing column's chunk (or, with no column
    /// found, the row group) starts in the file.
    #[error("{path}: row group {row_group}{}: cannot decode: {source}", .column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default())]
    Decode {
        path: String,
        row_group: usize,
        column: Option<String>,
        offset: Option<u64>,
        #[source]
        source: Box<ParquetError>,
    },
    /// A file whose schema differs from the first file's; `column` is the
    /// first column that differs (in name or type).
    #[error("{path}: schema differs from {first}'s: {detail}")]
    SchemaMismatch {
        path: String,
        first: String,
        column: String,
        detail: String,
    },
    /// A column whose type the asked-for use cannot take (packing a column
    /// that is not a list of integers, say).
    #[error("column {column:?} ({data_type}): {reason}")]
    UnsupportedType {
        column: String,
        data_type: String,
        reason: String,
    },
    /// A column (projected or in a filter) the files do not have.
    #[error("column {column:?} is not in {path} (columns: {available})")]
    MissingColumn {
        column: String,
        path: String,
        available: String,
    },
    /// A source that names no Parquet file.
    #[error("{source_path}: {reason}")]
    NoFiles { source_path: String, reason: String },
    /// A bad argument; `argument` is its name as the user spelled it.
    #[error("{argument}: {reason}")]
    InvalidArgument { argument: String, reason: String },
    /// A filter that cannot apply to the data (a type mismatch, say).
    #[error("filter on column {column:?}: {reason}")]
    Filter { column: String, reason: String },
    /// A saved state that does not fit this dataset.
    #[error("load_state_dict: {0}")]
    State(String),
    /// The call was interrupted (Ctrl-C) or the reader was closed.
    #[error("{0} interrupted")]
    Interrupted(&'static str),
}

impl Error {
    /// An invalid-argument error.
    pub fn invalid(argument: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            argument: argument.into(),
            reason: reason.into(),
        }
    }

    /// An IO error on `path`.
    pub fn io(path: &str, offset: Option<u64>, source: hf3fs_core::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            offset,
            source: Box::new(source),
        }
    }
}
