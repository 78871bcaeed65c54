"""The fast decode path reads back exactly what pyarrow reads.

A hypothesis property writes one numeric column (primitive, list, large_list or
fixed_size_list of int32/uint32/int64/uint64/float32/float64, with or without null rows
and null items, empty and long rows) under random writer options (codec, dictionary,
page version and size, row groups, page index, DELTA_BINARY_PACKED / BYTE_STREAM_SPLIT)
and checks that ``ParquetDataset`` decodes it with the fast path, that every read (in
order, and per rank with spans that cut row groups) equals ``pyarrow.parquet.read_table``,
and that the column reader under the page decoder (``HF3FS_PAGE_DECODER=0``) and
``HF3FS_FAST_DECODE=0`` (arrow-rs) yield identical batches. Two more tests check
that declined column types still decode through arrow-rs, and the numpy view of lists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import as_record_batch, make_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.usefixtures("no_dist_env")

VALUE_TYPES = {
    "int32": (pa.int32(), np.int32),
    "uint32": (pa.uint32(), np.uint32),
    "int64": (pa.int64(), np.int64),
    "uint64": (pa.uint64(), np.uint64),
    "float32": (pa.float32(), np.float32),
    "float64": (pa.float64(), np.float64),
}
SHAPES = ["primitive", "list", "large_list", "fixed_size_list"]
CODECS = ["none", "snappy", "zstd", "lz4", "gzip", "brotli"]


@contextlib.contextmanager
def switched_off(name: str):
    """``name=0`` in the environment inside the block."""
    old = os.environ.get(name)
    os.environ[name] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def page_decoder_off():
    """``HF3FS_PAGE_DECODER=0``: the fast path reads every page with the parquet crate's
    column reader (read at each column decode, so it applies to reads inside the block)."""
    return switched_off("HF3FS_PAGE_DECODER")


def fast_decode_off():
    """``HF3FS_FAST_DECODE=0`` while datasets are opened inside the block."""
    return switched_off("HF3FS_FAST_DECODE")


def leaf_values(rng: np.random.Generator, vtype: str, count: int) -> np.ndarray:
    """``count`` finite values of ``vtype``, extremes included (for unsigned types: values
    above the signed maximum)."""
    dtype = VALUE_TYPES[vtype][1]
    if vtype.startswith("float"):
        info = np.finfo(dtype)
        special = np.array([0.0, -0.0, info.max, info.min, info.tiny, 1.5], dtype=dtype)
        out = (rng.standard_normal(count) * 10.0 ** rng.integers(-30, 30, count)).astype(dtype)
        out[~np.isfinite(out)] = 1.0
    else:
        info = np.iinfo(dtype)
        special = np.array([info.min, info.max, 0, np.iinfo(dtype).max // 2 + 1], dtype=dtype)
        small = rng.random(count) < 0.5  # narrow values: delta / bit-packing friendly
        out = rng.integers(info.min, info.max, size=count, dtype=dtype, endpoint=True)
        out[small] = rng.integers(0, 16, size=int(small.sum()), dtype=dtype)
    picks = rng.random(count) < 0.05
    out[picks] = rng.choice(special, size=int(picks.sum()))
    return out


def build_column(case: dict) -> pa.Array:
    """The ``x`` column ``case`` describes."""
    rng = np.random.default_rng(case["seed"])
    n, shape, required = case["rows"], case["shape"], case["required"]
    value_type = VALUE_TYPES[case["vtype"]][0]
    row_mask = rng.random(n) < case["row_null_rate"] if case["row_nulls"] else None

    def items(count: int) -> pa.Array:
        mask = rng.random(count) < 0.2 if case["item_nulls"] else None
        return pa.array(leaf_values(rng, case["vtype"], count), type=value_type, mask=mask)

    if shape == "primitive":
        values = leaf_values(rng, case["vtype"], n)
        return pa.array(values, type=value_type, mask=row_mask)
    item = pa.field("item", value_type, nullable=not required)
    if shape == "fixed_size_list":
        size = case["fsl_size"]
        typ = pa.list_(item, size)
        mask = None if row_mask is None else pa.array(row_mask)
        return pa.FixedSizeListArray.from_arrays(items(n * size), type=typ, mask=mask)
    lengths = rng.integers(0, case["max_len"] + 1, size=n)
    lengths[rng.random(n) < case["empty_rate"]] = 0
    if row_mask is not None:
        lengths[row_mask] = 0
    large = shape == "large_list"
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64 if large else np.int32)
    cls, typ = (pa.LargeListArray, pa.large_list(item)) if large else (pa.ListArray, pa.list_(item))
    mask = None if row_mask is None else pa.array(row_mask)
    return cls.from_arrays(pa.array(offsets), items(int(lengths.sum())), type=typ, mask=mask)


@st.composite
def cases(draw) -> dict:
    shape = draw(st.sampled_from(SHAPES))
    vtype = draw(st.sampled_from(list(VALUE_TYPES)))
    nested = shape != "primitive"
    row_nulls = draw(st.booleans())
    item_nulls = nested and draw(st.booleans())
    case = {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "shape": shape,
        "vtype": vtype,
        "rows": draw(st.integers(1, 500)),
        "row_nulls": row_nulls,
        "row_null_rate": draw(st.sampled_from([0.05, 0.3, 1.0])),
        "item_nulls": item_nulls,
        "required": not row_nulls and not item_nulls and draw(st.booleans()),
        "fsl_size": draw(st.integers(1, 4)),
        "max_len": draw(st.sampled_from([0, 1, 4, 20, 300])),
        "empty_rate": draw(st.sampled_from([0.0, 0.3])),
    }
    use_dictionary = draw(st.booleans())
    writer = {
        "compression": draw(st.sampled_from(CODECS)),
        "use_dictionary": use_dictionary,
        "data_page_version": draw(st.sampled_from(["1.0", "2.0"])),
        "data_page_size": draw(st.integers(64, 4096)),
        "write_batch_size": draw(st.sampled_from([7, 64, 1024])),
        "row_group_size": draw(st.integers(1, case["rows"] + 10)),
        "write_page_index": draw(st.booleans()),
    }
    if use_dictionary:
        writer["dictionary_pagesize_limit"] = draw(st.sampled_from([128, 1024, 1 << 20]))
    else:
        special = "BYTE_STREAM_SPLIT" if vtype.startswith("float") else "DELTA_BINARY_PACKED"
        encoding = draw(st.sampled_from([None, "PLAIN", special]))
        if encoding is not None:
            writer["column_encoding"] = {"x": encoding}
    case["writer"] = writer
    case["batch_size"] = draw(st.integers(1, 300))
    case["world_size"] = draw(st.integers(2, 3))
    case["shuffle_window"] = draw(st.sampled_from([0, 0, 17, 64]))
    return case


def read_batches(path: str, **kwargs) -> list[pa.RecordBatch]:
    return [as_record_batch(b) for b in make_dataset(path, format="arrow", **kwargs)]


def reference_x(path: str, written: pa.Table) -> tuple[pa.Array, bool]:
    """Column ``x`` as pyarrow reads it; pyarrow cannot read fixed-size lists with null rows
    back ("Expected all lists to be of size=N"), so those compare with what was written
    (its item field may be named differently). Returns (column, compare type names too)."""
    try:
        return pq.read_table(path).column("x").combine_chunks(), True
    except pa.ArrowInvalid as e:
        assert pa.types.is_fixed_size_list(written.schema.field("x").type), e
        assert written.column("x").null_count > 0, e
        return written.column("x").combine_chunks(), False


def assert_column_equal(got: pa.Array, want: pa.Array, what: str, exact=True) -> None:
    assert got.type == want.type, (what, got.type, want.type)
    if exact:  # list item field names and nullability too
        assert str(got.type) == str(want.type), (what, got.type, want.type)
    assert len(got) == len(want), (what, len(got), len(want))
    assert got.equals(want), f"{what}: column x differs\n got: {got}\nwant: {want}"


def column_x(batches: list[pa.RecordBatch]) -> tuple[np.ndarray, pa.Array]:
    table = pa.Table.from_batches(batches)
    return table.column("id").to_numpy(), table.column("x").combine_chunks()


def check_case(directory: str, case: dict) -> None:
    table = pa.table(
        {"id": pa.array(np.arange(case["rows"], dtype=np.int64)), "x": build_column(case)}
    )
    if case["required"]:
        table = table.cast(pa.schema([f.with_nullable(False) for f in table.schema]))
    path = os.path.join(directory, "t.parquet")
    pq.write_table(table, path, **case["writer"])
    want_x, exact = reference_x(path, table)
    bs = case["batch_size"]

    ds = make_dataset(path, format="arrow", batch_size=bs, rank=0, world_size=1)
    columns = ds.info()["columns"]
    assert columns["x"]["decoder"] == "fast" and columns["id"]["decoder"] == "fast", columns
    fast = [as_record_batch(b) for b in ds]
    assert all(b.num_rows == bs for b in fast[:-1])
    ids, got_x = column_x(fast)
    np.testing.assert_array_equal(ids, np.arange(case["rows"]))
    assert_column_equal(got_x, want_x, "ordered read", exact)

    # The page decoder (the fast path's own) against the parquet crate's column reader.
    with page_decoder_off():
        by_reader = read_batches(path, batch_size=bs, rank=0, world_size=1)
    assert len(by_reader) == len(fast)
    for i, (a, b) in enumerate(zip(fast, by_reader, strict=True)):
        assert a.equals(b), f"batch {i}: the page decoder differs from the column reader"

    with fast_decode_off():
        off = make_dataset(path, format="arrow", batch_size=bs, rank=0, world_size=1)
    assert off.info()["columns"]["x"]["decoder"] == "arrow"
    slow = [as_record_batch(b) for b in off]
    assert len(slow) == len(fast)
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        assert a.schema.equals(b.schema), (i, a.schema, b.schema)
        assert a.equals(b), f"batch {i}: fast decode differs from HF3FS_FAST_DECODE=0"

    world, window = case["world_size"], case["shuffle_window"]
    seen: list[np.ndarray] = []
    for rank in range(world):
        kwargs = dict(batch_size=bs, rank=rank, world_size=world, shuffle_window=window, seed=3)
        batches = read_batches(path, **kwargs)
        if not batches:
            continue
        ids, got_x = column_x(batches)
        seen.append(ids)
        want = want_x.take(pa.array(ids))
        assert_column_equal(got_x, want, f"rank {rank}/{world}", exact)
        with fast_decode_off():
            slow_ids, slow_x = column_x(read_batches(path, **kwargs))
        np.testing.assert_array_equal(ids, slow_ids)
        assert_column_equal(got_x, slow_x, f"rank {rank}/{world} vs HF3FS_FAST_DECODE=0")
    all_ids = np.concatenate(seen) if seen else np.array([], dtype=np.int64)
    assert len(np.unique(all_ids)) == len(all_ids) == case["rows"] - case["rows"] % world


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_fast_decode_matches_pyarrow(case):
    with tempfile.TemporaryDirectory() as directory:
        check_case(directory, case)


def test_declined_columns_decode_through_arrow(tmp_path):
    n = 257
    rng = np.random.default_rng(7)
    ints = rng.integers(-1000, 1000, size=n)
    nulls = rng.random(n) < 0.2
    table = pa.table(
        {
            "s": pa.array([None if z else f"s{v}" for v, z in zip(ints, nulls, strict=True)]),
            "b": pa.array(ints % 2 == 0, mask=nulls),
            "i8": pa.array((ints % 100).astype(np.int8), mask=nulls),
            "dec": pa.array(ints, mask=nulls).cast(pa.decimal128(22, 2)),
            "ts": pa.array(ints * 10**9, type=pa.timestamp("us"), mask=nulls),
            "nested": pa.array(
                [[[int(v)] * (i % 3), []] if i % 5 else None for i, v in enumerate(ints)],
                type=pa.list_(pa.list_(pa.int32())),
            ),
            "st": pa.array(
                [{"a": int(v), "b": f"{v}"} for v in ints],
                type=pa.struct([("a", pa.int32()), ("b", pa.string())]),
            ),
            "i64": pa.array(ints * 2**33, type=pa.int64(), mask=nulls),
            "li32": pa.array(
                [[int(v)] * (i % 4) if i % 7 else None for i, v in enumerate(ints)],
                type=pa.list_(pa.int32()),
            ),
        }
    )
    path = str(tmp_path / "mixed.parquet")
    pq.write_table(table, path, row_group_size=100, data_page_size=512)
    ds = make_dataset(path, format="arrow", batch_size=60)
    decoders = {name: c["decoder"] for name, c in ds.info()["columns"].items()}
    assert decoders == {
        **{name: "arrow" for name in table.column_names},
        "i64": "fast",
        "li32": "fast",
    }
    got = pa.Table.from_batches([as_record_batch(b) for b in ds]).combine_chunks()
    expected = pq.read_table(path).combine_chunks()
    assert got.schema.equals(expected.schema), (got.schema, expected.schema)
    for name in expected.column_names:
        assert got.column(name).equals(expected.column(name)), name


@pytest.mark.parametrize(
    "list_type", [pa.list_(pa.int64()), pa.large_list(pa.float32())], ids=["list", "large_list"]
)
def test_numpy_list_is_values_and_offsets(tmp_path, list_type):
    n = 300
    rng = np.random.default_rng(11)
    lengths = rng.integers(0, 40, size=n)
    lengths[::9] = 0
    value_type = list_type.value_type
    count = int(lengths.sum())
    values = pa.array(
        rng.integers(-(2**40), 2**40, size=count)
        if value_type == pa.int64()
        else rng.standard_normal(count).astype(np.float32),
        type=value_type,
    )
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    cls = pa.LargeListArray if pa.types.is_large_list(list_type) else pa.ListArray
    x = cls.from_arrays(
        pa.array(offsets.astype(np.int64 if cls is pa.LargeListArray else np.int32)), values
    )
    path = str(tmp_path / "lists.parquet")
    pq.write_table(pa.table({"x": x}), path, row_group_size=64, data_page_size=256)
    ds = make_dataset(path, format="numpy", batch_size=n)
    assert ds.info()["columns"]["x"]["decoder"] == "fast"
    (batch,) = list(ds)
    got_values, got_offsets = batch["x"]
    want = pq.read_table(path).column("x").combine_chunks()
    want_values = want.values.to_numpy()
    want_offsets = want.offsets.to_numpy()
    assert type(got_values) is np.ndarray and got_values.dtype == want_values.dtype
    assert got_offsets.dtype == want_offsets.dtype
    np.testing.assert_array_equal(got_values, want_values)
    np.testing.assert_array_equal(got_offsets, want_offsets)


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("codec", ["zstd", "snappy", "none"])
def test_pyarrow_pages_go_through_the_page_decoder(tmp_path, version, dictionary, codec):
    """pyarrow's PLAIN and dictionary pages (v1 and v2, nulls, empty lists, pages of a few
    rows) are read by the fast path's own page decoder, not handed to the column reader."""
    rows = [[1, 2, 3], [4], [], None, [5, 6, None]] * 300
    table = pa.table(
        {
            "x": pa.array(rows, type=pa.list_(pa.int32())),
            "y": pa.array(np.arange(len(rows), dtype=np.int64)),
            "z": pa.array([None if i % 7 == 0 else i / 4 for i in range(len(rows))]),
        }
    )
    path = str(tmp_path / "t.parquet")
    pq.write_table(
        table,
        path,
        data_page_version=version,
        use_dictionary=dictionary,
        compression=codec,
        data_page_size=512,
        row_group_size=700,
    )
    ds = make_dataset(path, format="arrow", batch_size=100, rank=0, world_size=1)
    reader = ds._ds.reader(ds._position(1, 0), 0, 0, decode_threads=1)
    got = pa.Table.from_batches([as_record_batch(b) for b in reader])
    stats = reader.stats()
    assert stats["fast_columns"] == stats["page_decoder_columns"] == 3 * 3, stats
    assert got.equals(pq.read_table(path))
