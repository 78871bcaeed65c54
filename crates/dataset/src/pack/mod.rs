//! Packing documents into fixed-length sequences for language-model
//! pretraining.
//!
//! The rows of one list-of-integers column are documents. In plan order
//! they are laid end to end (each followed by the EOS token when there is
//! one) and cut into sequences of exactly `seq_len` tokens; a document that
//! does not fit continues in the next sequence. A batch holds
//! `sequences_per_batch` sequences, with the position of every token inside
//! its document piece (restarting at 0 where a document, or its
//! continuation, starts) and the pieces' cumulative lengths over the
//! flattened batch (`cu_seqlens`, as variable-length attention kernels take
//! them).
//!
//! The plan counts tokens, not rows: a row group's token count comes from
//! its footer ([`tokens`]), the epoch's token stream is cut into equal spans
//! of whole batches ([`crate::plan::Cut::Tokens`]), and a reader skips to
//! its span's first token inside the row group where the span starts
//! ([`source`]).

pub mod source;
pub mod tokens;

use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Int32Array, Int64Array};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field};

use crate::error::{Error, Result};

/// The column packed unless the caller names another (what tokenizers
/// and Hugging Face models call the token ids).
pub const DEFAULT_PACK_COLUMN: &str = "input_ids";
/// Tokens per sequence unless the caller says otherwise: the context
/// length of current open pretraining recipes (Llama 2/3, OLMo).
pub const DEFAULT_SEQ_LEN: usize = 4096;
/// Sequences per batch unless the caller says otherwise: 8 × 4096 tokens
/// is a common per-GPU micro-batch, and one batch stays 128-256 KiB.
pub const DEFAULT_SEQUENCES_PER_BATCH: usize = 8;

/// How documents are packed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackOptions {
    /// The list-of-integers column holding each document's tokens.
    pub column: String,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Sequences per batch.
    pub sequences_per_batch: usize,
    /// A token appended to every document (None: none).
    pub eos_token: Option<i64>,
    /// Leave out the tokens that do not fill a whole batch per span; if
    /// false, each span's last batch is padded instead.
    pub drop_partial: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            column: DEFAULT_PACK_COLUMN.to_string(),
            seq_len: DEFAULT_SEQ_LEN,
            sequences_per_batch: DEFAULT_SEQUENCES_PER_BATCH,
            eos_token: None,
            drop_partial: true,
        }
    }
}

impl PackOptions {
    /// Tokens per batch.
    pub fn batch_tokens(&self) -> u64 {
        (self.seq_len * self.sequences_per_batch) as u64
    }

    /// Check the sizes (before any file is read).
    pub fn validate(&self) -> Result<()> {
        if self.seq_len == 0 {
            return Err(Error::invalid("pack.seq_len", "must be at least 1"));
        }
        if self.sequences_per_batch == 0 {
            return Err(Error::invalid(
                "pack.sequences_per_batch",
                "must be at least 1",
            ));
        }
        // cu_seqlens is int32, as FlashAttention takes it.
        if self
            .seq_len
            .checked_mul(self.sequences_per_batch)
            .is_none_or(|n| n > i32::MAX as usize)
        {
            return Err(Error::invalid(
                "pack",
                format!(
                    "seq_len x sequences_per_batch = {} x {} exceeds 2**31 - 1 tokens per batch",
                    self.seq_len, self.sequences_per_batch
                ),
            ));
        }
        Ok(())
    }
}

/// The element type of the packed column's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenType {
    /// The Arrow type (an integer type).
    pub data_type: DataType,
    /// Bytes per token.
    pub width: usize,
}

/// `pack.column` names a column that is not a list of integer tokens.
fn not_tokens(column: &str, data_type: &DataType) -> Error {
    Error::UnsupportedType {
        column: column.to_string(),
        data_type: data_type.to_string(),
        reason: "pack.column must be a list (or large list) of integer tokens".to_string(),
    }
}

impl TokenType {
    /// The token type of `column`, which must be a list (or large list) of
    /// integers.
    pub fn of_column(column: &str, data_type: &DataType) -> Result<TokenType> {
        let item = match data_type {
            DataType::List(f) | DataType::LargeList(f) => f.data_type(),
            other => return Err(not_tokens(column, other)),
        };
        if !item.is_integer() {
            return Err(not_tokens(column, data_type));
        }
        let width = item.primitive_width().unwrap_or(8);
        Ok(TokenType {
            data_type: item.clone(),
            width,
        })
    }

    /// `token` as this type's little-endian bytes, or an error naming
    /// `argument` when it does not fit.
    pub fn encode(&self, argument: &str, token: i64) -> Result<Vec<u8>> {
        let out_of_range = || {
            Error::invalid(
                argument,
                format!("{token} does not fit the tokens' type {}", self.data_type),
            )
        };
        let bytes = match self.data_type {
            DataType::Int8 => i8::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::Int16 => i16::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::Int32 => i32::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::Int64 => Ok(token.to_le_bytes().to_vec()),
            DataType::UInt8 => u8::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::UInt16 => u16::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::UInt32 => u32::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            DataType::UInt64 => u64::try_from(token).map(|v| v.to_le_bytes().to_vec()),
            _ => return Err(out_of_range()),
        };
        bytes.map_err(|_| out_of_range())
    }
}

/// One packed batch.
#[derive(Debug, Clone)]
pub struct PackedBatch {
    /// `[sequences, seq_len]` tokens: a fixed-size list per sequence.
    pub input_ids: ArrayRef,
    /// `[sequences, seq_len]` int64 positions inside each document piece.
    pub position_ids: ArrayRef,
    /// int32 `[pieces + 1]`: the pieces' cumulative lengths over the
    /// flattened batch.
    pub cu_seqlens: ArrayRef,
    /// The longest piece.
    pub max_seqlen: usize,
    /// Tokens that are data (the rest, at the end, is padding).
    pub num_tokens: usize,
    /// int32 `[sequences]`: the index of the source each sequence came
    /// from, in a mixture (None otherwise).
    pub source: Option<ArrayRef>,
}

/// Fills one batch: tokens are appended to the open piece of the current
/// sequence, which the caller ends at document and sequence boundaries.
#[derive(Debug)]
pub struct PackedBuilder {
    token_type: TokenType,
    seq_len: usize,
    tokens: Vec<u8>,
    positions: Vec<i64>,
    cu_seqlens: Vec<i32>,
    sources: Vec<i32>,
    /// Tokens of the open piece.
    piece: usize,
    max_piece: usize,
    data_tokens: usize,
}

impl PackedBuilder {
    /// An empty batch of `sequences` sequences of `seq_len` tokens.
    pub fn new(token_type: &TokenType, seq_len: usize, sequences: usize) -> PackedBuilder {
        let tokens = seq_len * sequences;
        PackedBuilder {
            token_type: token_type.clone(),
            seq_len,
            tokens: Vec::with_capacity(tokens * token_type.width),
            positions: Vec::with_capacity(tokens),
            cu_seqlens: vec![0],
            sources: Vec::with_capacity(sequences),
            piece: 0,
            max_piece: 0,
            data_tokens: 0,
        }
    }

    /// Tokens in the batch so far.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether no token was appended.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Room left in the current sequence.
    pub fn room(&self) -> usize {
        self.seq_len - self.positions.len() % self.seq_len
    }

    /// Append tokens (little-endian bytes of the token type) to the open piece.
    pub fn append(&mut self, bytes: &[u8]) {
        let n = bytes.len() / self.token_type.width;
        self.tokens.extend_from_slice(bytes);
        let start = self.piece as i64;
        self.positions.extend(start..start + n as i64);
        self.piece += n;
        self.data_tokens += n;
    }

    /// End the open piece (nothing when it is empty).
    pub fn end_piece(&mut self) {
        if self.piece > 0 {
            let last = self.cu_seqlens.last().copied().unwrap_or(0);
            self.cu_seqlens.push(last + self.piece as i32);
            self.max_piece = self.max_piece.max(self.piece);
            self.piece = 0;
        }
    }

    /// Fill the rest of the current sequence with `pad` (one token's
    /// bytes), as a piece of its own.
    pub fn pad_sequence(&mut self, pad: &[u8]) {
        self.end_piece();
        let n = self.room();
        for _ in 0..n {
            self.tokens.extend_from_slice(pad);
        }
        self.positions.extend(0..n as i64);
        self.piece = n;
        self.end_piece();
    }

    /// Note the source of the sequence just filled.
    pub fn push_source(&mut self, source: usize) {
        self.sources.push(source as i32);
    }

    /// The batch.
    pub fn finish(mut self) -> Result<PackedBatch> {
        self.end_piece();
        let sequences = self.positions.len() / self.seq_len;
        let size = self.seq_len as i32;
        let wrap = |name: &str, values: ArrayRef| -> Result<ArrayRef> {
            let field = Arc::new(Field::new("item", values.data_type().clone(), false));
            FixedSizeListArray::try_new(field, size, values, None)
                .map(|a| Arc::new(a) as ArrayRef)
                .map_err(|e| Error::invalid("pack", format!("{name}: {e}")))
        };
        let data = arrow_data::ArrayData::builder(self.token_type.data_type.clone())
            .len(sequences * self.seq_len)
            .add_buffer(Buffer::from_vec(self.tokens))
            .build()
            .map_err(|e| Error::invalid("pack", format!("input_ids: {e}")))?;
        let input_ids = wrap("input_ids", arrow_array::make_array(data))?;
        let position_ids = wrap(
            "position_ids",
            Arc::new(Int64Array::from(self.positions)) as ArrayRef,
        )?;
        let source = (!self.sources.is_empty())
            .then(|| Arc::new(Int32Array::from(self.sources)) as ArrayRef);
        Ok(PackedBatch {
            input_ids,
            position_ids,
            cu_seqlens: Arc::new(Int32Array::from(self.cu_seqlens)),
            max_seqlen: self.max_piece,
            num_tokens: self.data_tokens,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};
    use arrow_array::Array;

    #[test]
    fn pieces_and_padding() {
        let t = TokenType {
            data_type: DataType::Int32,
            width: 4,
        };
        let bytes = |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut b = PackedBuilder::new(&t, 4, 2);
        b.append(&bytes(&[1, 2, 3]));
        b.end_piece();
        b.append(&bytes(&[4]));
        b.end_piece(); // the sequence ends
        b.append(&bytes(&[5]));
        b.pad_sequence(&bytes(&[0]));
        let out = b.finish().unwrap();
        let ids = out.input_ids.as_fixed_size_list();
        assert_eq!(ids.len(), 2);
        let flat: Vec<i32> = ids.values().as_primitive::<Int32Type>().values().to_vec();
        assert_eq!(flat, vec![1, 2, 3, 4, 5, 0, 0, 0]);
        let pos = out.position_ids.as_fixed_size_list();
        let pos: Vec<i64> = pos.values().as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(pos, vec![0, 1, 2, 0, 0, 0, 1, 2]);
        let cu: Vec<i32> = out.cu_seqlens.as_primitive::<Int32Type>().values().to_vec();
        assert_eq!(cu, vec![0, 3, 4, 5, 8]);
        assert_eq!(out.max_seqlen, 3);
        assert_eq!(out.num_tokens, 5);
    }

    #[test]
    fn token_types() {
        let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        let t = TokenType::of_column("c", &list(DataType::UInt16)).unwrap();
        assert_eq!(t.width, 2);
        assert_eq!(t.encode("eos", 65535).unwrap(), vec![255, 255]);
        assert!(t
            .encode("eos", 65536)
            .unwrap_err()
            .to_string()
            .contains("eos"));
        assert!(t.encode("eos", -1).is_err());
        let e = TokenType::of_column("c", &list(DataType::Utf8)).unwrap_err();
        assert!(e.to_string().contains("\"c\""), "{e}");
        assert!(TokenType::of_column("c", &DataType::Int32).is_err());
    }

    #[test]
    fn sizes_are_checked() {
        let ok = PackOptions::default();
        ok.validate().unwrap();
        for bad in [
            PackOptions {
                seq_len: 0,
                ..ok.clone()
            },
            PackOptions {
                sequences_per_batch: 0,
                ..ok.clone()
            },
            PackOptions {
                seq_len: 1 << 20,
                sequences_per_batch: 1 << 12,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
