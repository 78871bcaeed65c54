"""Shared helpers for the packing and mixing tests: corpora of unique tokens, a reference
packer written from the definition, and checks of a packed batch's pieces.

Every data token of a corpus is a unique positive number (a running counter from
``first_token``), so a token tells which document, row group and corpus it came from;
``EOS`` (0) is never data, and is also the padding token when there is no EOS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dataset_helpers import SMALL_PREFETCH
from hypothesis import strategies as st

EOS = 0
PAD_DOC = -1  # the "document" padding belongs to in a reference stream


@dataclass
class Corpus:
    """A written corpus: its row groups in dataset order, each a list of (doc id, tokens)
    (tokens None for a null row)."""

    directory: Path
    groups: list[list[tuple[int, list[int] | None]]]
    doc_of: dict[int, int] = field(default_factory=dict)  # data token -> doc id
    group_of: dict[int, int] = field(default_factory=dict)  # data token -> group index

    def __post_init__(self) -> None:
        for g, group in enumerate(self.groups):
            for doc, tokens in group:
                for t in tokens or ():
                    self.doc_of[t] = doc
                    self.group_of[t] = g

    def stream(self, eos: int | None) -> list[tuple[int, int]]:
        """The epoch's token stream without shuffling: (token, doc id) pairs."""
        out: list[tuple[int, int]] = []
        for group in self.groups:
            for doc, tokens in group:
                out.extend((t, doc) for t in tokens or ())
                if eos is not None:
                    out.append((eos, doc))
        return out

    def total(self, eos: int | None) -> int:
        rows = sum(len(g) for g in self.groups)
        data = sum(len(tokens or ()) for g in self.groups for _, tokens in g)
        return data + (rows if eos is not None else 0)

    def group_data(self, g: int) -> list[int]:
        """The data tokens of row group ``g``, in order."""
        return [t for _, tokens in self.groups[g] for t in tokens or ()]

    @property
    def tokens(self) -> set[int]:
        return set(self.doc_of)


def write_corpus(
    directory: str | Path,
    files: Sequence[Sequence[int | None]],
    group_rows: Sequence[int],
    *,
    first_token: int = 1,
    dtype: pa.DataType | None = None,
    large: bool = False,
    statistics: bool = True,
) -> Corpus:
    """One Parquet file per entry of ``files`` (each a list of document lengths, None for a
    null row) with ``input_ids`` (list<dtype>, default int32) and ``id`` (int64, the
    document's number), written with ``row_group_size=group_rows[i]``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    next_token, next_doc = first_token, 0
    groups: list[list[tuple[int, list[int] | None]]] = []
    dtype = pa.int32() if dtype is None else dtype
    list_type = pa.large_list(dtype) if large else pa.list_(dtype)
    for i, lengths in enumerate(files):
        docs: list[list[int] | None] = []
        for n in lengths:
            if n is None:
                docs.append(None)
            else:
                docs.append(list(range(next_token, next_token + n)))
                next_token += n
        ids = list(range(next_doc, next_doc + len(docs)))
        next_doc += len(docs)
        table = pa.table(
            {
                "id": pa.array(ids, type=pa.int64()),
                "input_ids": pa.array(docs, type=list_type),
            }
        )
        path = directory / f"part-{i:05d}.parquet"
        pq.write_table(
            table, str(path), row_group_size=max(1, group_rows[i]), write_statistics=statistics
        )
        meta = pq.ParquetFile(str(path)).metadata
        row = 0
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            groups.append(list(zip(ids[row : row + n], docs[row : row + n], strict=True)))
            row += n
        assert row == len(docs)
    return Corpus(directory, groups)


def make_packed(directory, pack, **kwargs):
    """A packed ParquetDataset over ``directory`` with the tests' small prefetch."""
    from hf3fs.dataset import ParquetDataset

    kwargs.setdefault("prefetch_bytes", SMALL_PREFETCH)
    return ParquetDataset(str(directory), pack=pack, **kwargs)


# ---- hypothesis strategies ------------------------------------------------------------------

# Document lengths: empty, one token, short, longer than any seq_len drawn, and null rows.
DOC_LENGTHS = st.one_of(st.just(0), st.just(1), st.integers(2, 12), st.integers(33, 70), st.none())


@st.composite
def corpus_specs(draw, max_files: int = 3, max_docs: int = 40, min_docs: int = 0):
    """(files, group_rows, statistics) for :func:`write_corpus`."""
    n = draw(st.integers(1, max_files))
    files = [draw(st.lists(DOC_LENGTHS, min_size=min_docs, max_size=max_docs)) for _ in range(n)]
    group_rows = [draw(st.integers(1, 16)) for _ in range(n)]
    return files, group_rows, draw(st.booleans())


# ---- batches ----------------------------------------------------------------------------------


def to_numpy(batch: dict[str, Any]) -> dict[str, Any]:
    """A packed batch of any format as numpy arrays (and the ints as ints)."""
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, int):
            out[key] = value
        elif hasattr(value, "detach"):  # a torch tensor
            out[key] = value.detach().cpu().numpy()
        elif isinstance(value, np.ndarray):
            out[key] = value
        else:  # hf3fs.dataset.ArrowArray
            out[key] = value.to_numpy()
    return out


def read(iterable: Iterable) -> list[dict[str, Any]]:
    return [to_numpy(b) for b in iterable]


def data_tokens(batch: dict[str, Any]) -> list[int]:
    """The batch's tokens that are data (EOS included, padding not)."""
    return [int(t) for t in batch["input_ids"].ravel()[: batch["num_tokens"]]]


def assert_batches_equal(got: Sequence[dict], want: Sequence[dict], what: str = "") -> None:
    assert len(got) == len(want), f"{what}: {len(got)} batches, expected {len(want)}"
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert sorted(a) == sorted(b), (what, i, sorted(a), sorted(b))
        for key in b:
            if isinstance(b[key], np.ndarray):
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{what} batch {i} {key}")
                assert a[key].dtype == b[key].dtype, (what, i, key, a[key].dtype, b[key].dtype)
            else:
                assert a[key] == b[key], (what, i, key, a[key], b[key])


def check_structure(batch: dict[str, Any], seq_len: int, spb: int, dtype) -> None:
    """Shapes, dtypes, and cu_seqlens / max_seqlen agreeing with position_ids: a piece
    starts where its position is 0 and counts up by one, never crossing a sequence."""
    ids, pos, cu = batch["input_ids"], batch["position_ids"], batch["cu_seqlens"]
    assert ids.shape == (spb, seq_len) and ids.dtype == np.dtype(dtype), (ids.shape, ids.dtype)
    assert pos.shape == (spb, seq_len) and pos.dtype == np.int64, (pos.shape, pos.dtype)
    assert cu.ndim == 1 and cu.dtype == np.int32, (cu.shape, cu.dtype)
    flat_pos = pos.ravel()
    starts = np.flatnonzero(flat_pos == 0)
    np.testing.assert_array_equal(cu, np.append(starts, spb * seq_len).astype(np.int32))
    lengths = np.diff(cu)
    assert (lengths > 0).all(), cu
    for a, n in zip(cu[:-1], lengths, strict=True):
        np.testing.assert_array_equal(flat_pos[a : a + n], np.arange(n), err_msg=str(cu))
    assert set(range(0, spb * seq_len, seq_len)) <= set(cu.tolist()), (
        "a piece crosses a sequence boundary",
        cu,
    )
    assert isinstance(batch["max_seqlen"], int) and batch["max_seqlen"] == int(lengths.max())
    assert isinstance(batch["num_tokens"], int) and 0 < batch["num_tokens"] <= spb * seq_len


def expected_positions(
    tokens: Sequence[int], num_tokens: int, seq_len: int, doc_of: dict[int, int], eos: int | None
) -> list[int]:
    """Positions the definition gives a flattened batch, from its tokens alone: a piece
    starts at every sequence start, after every EOS, between data tokens of different
    documents, and where the padding starts."""
    out = []
    for j, t in enumerate(tokens):
        if j == 0 or j % seq_len == 0 or j == num_tokens:
            start = True
        elif j > num_tokens:
            start = False
        else:
            prev = tokens[j - 1]
            if eos is not None and prev == eos:
                start = True
            elif prev in doc_of and t in doc_of:
                start = doc_of[prev] != doc_of[t]
            else:
                start = False
        out.append(0 if start else out[-1] + 1)
    return out


def check_pieces(
    batch: dict[str, Any], seq_len: int, doc_of: dict[int, int], eos: int | None
) -> None:
    """position_ids (and so cu_seqlens, see :func:`check_structure`) as the tokens imply."""
    tokens = [int(t) for t in batch["input_ids"].ravel()]
    want = expected_positions(tokens, batch["num_tokens"], seq_len, doc_of, eos)
    got = batch["position_ids"].ravel().tolist()
    assert got == want, f"positions {got} for tokens {tokens}, expected {want}"


def reference_batches(
    part: Sequence[tuple[int, int]], seq_len: int, spb: int, pad: int, dtype
) -> list[dict[str, Any]]:
    """The batches the definition makes of one span's stream ``part`` ((token, doc) pairs):
    cut into sequences of ``seq_len``, ``spb`` per batch; positions restart at every document
    and sequence start; a last short batch is padded, its padding a piece of its own in each
    sequence."""
    size = seq_len * spb
    out = []
    for b in range(math.ceil(len(part) / size)):
        chunk = list(part[b * size : (b + 1) * size])
        num = len(chunk)
        items = chunk + [(pad, PAD_DOC)] * (size - num)
        positions: list[int] = []
        cu = [0]
        for j, (_, doc) in enumerate(items):
            start = j % seq_len == 0 or doc != items[j - 1][1] or j == num
            if start and j:
                cu.append(j)
            positions.append(0 if start else positions[-1] + 1)
        cu.append(size)
        out.append(
            {
                "input_ids": np.array([t for t, _ in items], dtype=dtype).reshape(spb, seq_len),
                "position_ids": np.array(positions, dtype=np.int64).reshape(spb, seq_len),
                "cu_seqlens": np.array(cu, dtype=np.int32),
                "max_seqlen": int(np.diff(cu).max()),
                "num_tokens": num,
            }
        )
    return out


def interleave(iterators: Sequence[Iterable]) -> list:
    """What a DataLoader yields from its workers' iterators: round robin from worker 0,
    skipping exhausted workers."""
    from dataset_helpers import interleave as _interleave

    return list(_interleave(iterators))
