"""``ParquetDataset`` values: every Arrow type, compression and page layout reads back what
pyarrow reads; the numpy, torch and polars views; column projection; filters."""

from __future__ import annotations

import decimal
import functools
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from dataset_helpers import (
    as_record_batch,
    flat,
    id_batches,
    make_dataset,
)

from hf3fs.dataset import ParquetDataset

pytestmark = pytest.mark.usefixtures("no_dist_env")

ROWS = 300
BS = 50  # batches span the 64-row row groups

INT_TYPES = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"]
FLOAT_TYPES = ["f32", "f64"]
PRIMITIVES = INT_TYPES + FLOAT_TYPES + ["bool"]
TORCH_PRIMITIVES = ["i8", "i16", "i32", "i64", "u8", "f32", "f64", "bool"]

STRUCT = pa.struct([("a", pa.int32()), ("b", pa.string())])


def _rand_str(rng) -> str:
    alphabet = ["a", "b", "z", "é", "日", "🙂", " ", "0"]
    return "".join(rng.choice(alphabet) for _ in range(int(rng.integers(0, 12))))


def _int_list(rng, lo, hi, inner_nulls: bool, max_len: int = 5):
    out = [int(v) for v in rng.integers(lo, hi, size=int(rng.integers(0, max_len + 1)))]
    if inner_nulls:
        out = [None if rng.random() < 0.15 else v for v in out]
    return out


def _columns(rng, n: int, nulls: bool) -> dict[str, tuple[list, pa.DataType]]:
    """name -> (python values, type); with ``nulls`` nested values hold nulls too."""
    cols: dict[str, tuple[list, pa.DataType]] = {}
    for name, dtype in zip(
        INT_TYPES,
        [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64],
        strict=True,
    ):
        info = np.iinfo(dtype)
        vals = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
        vals[:2] = [info.min, info.max]
        cols[name] = ([int(v) for v in vals], pa.from_numpy_dtype(dtype))
    cols["f32"] = ([float(v) for v in rng.standard_normal(n).astype(np.float32)], pa.float32())
    cols["f64"] = ([float(v) for v in rng.standard_normal(n) * 1e6], pa.float64())
    cols["bool"] = ([bool(v) for v in rng.random(n) < 0.5], pa.bool_())
    cols["str"] = ([_rand_str(rng) for _ in range(n)], pa.string())
    cols["large_str"] = ([_rand_str(rng) for _ in range(n)], pa.large_string())
    cols["bin"] = ([rng.bytes(int(rng.integers(0, 20))) for _ in range(n)], pa.binary())
    second = 1_700_000_000
    for unit, scale in [("ms", 10**3), ("us", 10**6), ("ns", 10**9)]:
        vals = [int(v) for v in rng.integers(-second * scale, second * scale, size=n)]
        cols[f"ts_{unit}"] = (vals, pa.timestamp(unit))
    tz_vals = [int(v) for v in rng.integers(0, second * 10**6, size=n)]
    cols["ts_us_utc"] = (tz_vals, pa.timestamp("us", tz="UTC"))
    tz_vals = [int(v) for v in rng.integers(0, second * 10**9, size=n)]
    cols["ts_ns_paris"] = (tz_vals, pa.timestamp("ns", tz="Europe/Paris"))
    cols["ts_ms_ny"] = ([v // 10**6 for v in tz_vals], pa.timestamp("ms", tz="America/New_York"))
    cols["date"] = ([int(v) for v in rng.integers(-20_000, 30_000, size=n)], pa.date32())
    cols["dec"] = (
        [decimal.Decimal(int(v)).scaleb(-4) for v in rng.integers(-(10**17), 10**17, size=n)],
        pa.decimal128(18, 4),
    )
    cols["dec38"] = (
        [decimal.Decimal(int(v) * 10**20 + 7).scaleb(-10) for v in rng.integers(-999, 999, n)],
        pa.decimal128(38, 10),
    )
    words = ["alpha", "beta", "gamma", "delta", ""]
    cols["dict_str"] = (
        [words[int(i)] for i in rng.integers(0, len(words), size=n)],
        pa.dictionary(pa.int32(), pa.string()),
    )
    cols["list_i32"] = (
        [_int_list(rng, -1000, 1000, nulls) for _ in range(n)],
        pa.list_(pa.int32()),
    )
    cols["large_list"] = (
        [_int_list(rng, -(2**40), 2**40, nulls) for _ in range(n)],
        pa.large_list(pa.int64()),
    )
    cols["fsl"] = (
        [[float(v) for v in rng.standard_normal(4).astype(np.float32)] for _ in range(n)],
        pa.list_(pa.float32(), 4),
    )
    cols["list_list"] = (
        [
            [_int_list(rng, 0, 100, nulls, 3) for _ in range(int(rng.integers(0, 4)))]
            for _ in range(n)
        ],
        pa.list_(pa.list_(pa.int64())),
    )
    structs = []
    for _ in range(n):
        a = int(rng.integers(-100, 100))
        b = _rand_str(rng)
        if nulls and rng.random() < 0.2:
            a = None
        if nulls and rng.random() < 0.2:
            b = None
        structs.append({"a": a, "b": b})
    cols["struct"] = (structs, STRUCT)
    return cols


def typed_table(n: int = ROWS, seed: int = 0) -> pa.Table:
    """``row_id``, one column per type (no nulls) and a ``<name>_n`` twin with ~20% nulls."""
    rng = np.random.default_rng(seed)
    arrays = {"row_id": pa.array(np.arange(n, dtype=np.int64))}
    plain = _columns(rng, n, nulls=False)
    with_nulls = _columns(rng, n, nulls=True)
    for name, (values, typ) in plain.items():
        arrays[name] = pa.array(values, type=typ)
    for name, (values, typ) in with_nulls.items():
        null_at = rng.random(n) < 0.2
        null_at[0] = True  # the first batch always has a null
        arrays[f"{name}_n"] = pa.array(
            [None if null else v for v, null in zip(values, null_at, strict=True)], type=typ
        )
    arrays["all_null"] = pa.nulls(n, type=pa.int32())
    return pa.table(arrays)


def write(path, table: pa.Table, **options) -> str:
    options.setdefault("row_group_size", 64)
    options.setdefault("data_page_size", 1024)
    options.setdefault("write_batch_size", 16)  # page size is checked every 16 rows
    options.setdefault("dictionary_pagesize_limit", 512)  # dictionaries fall back to plain
    pq.write_table(table, str(path), **options)
    return str(path)


make = functools.partial(make_dataset, batch_size=BS)


def arrow_table(ds: ParquetDataset) -> pa.Table:
    batches = []
    for b in ds:
        assert hasattr(b, "__arrow_c_array__") or hasattr(b, "__arrow_c_stream__"), type(b)
        batches.append(as_record_batch(b))
    assert batches, "the dataset yielded nothing"
    return pa.Table.from_batches(batches)


def assert_tables_equal(got: pa.Table, expected: pa.Table) -> None:
    assert got.schema.names == expected.schema.names
    for field, want in zip(got.schema, expected.schema, strict=True):
        assert field.type == want.type, (field.name, field.type, want.type)
    assert got.num_rows == expected.num_rows
    got = got.combine_chunks()
    expected = expected.combine_chunks()
    for name in expected.column_names:
        a, b = got.column(name), expected.column(name)
        if pa.types.is_dictionary(b.type):
            # Dictionaries may be split or merged differently: compare the decoded values.
            a = pc.cast(a, b.type.value_type)
            b = pc.cast(b, b.type.value_type)
        assert a.equals(b), f"column {name!r} differs"


# ---- arrow: every type, codec and page layout -----------------------------------------------


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return typed_table()


@pytest.mark.parametrize("page_index", [True, False], ids=["page-index", "no-page-index"])
@pytest.mark.parametrize("page_version", ["1.0", "2.0"], ids=["v1", "v2"])
@pytest.mark.parametrize("compression", ["zstd", "snappy", "gzip", "lz4", "none"])
def test_arrow_equals_pyarrow(tmp_path, table, compression, page_version, page_index):
    path = write(
        tmp_path / "t.parquet",
        table,
        compression=compression,
        data_page_version=page_version,
        write_page_index=page_index,
    )
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == math.ceil(ROWS / 64)
    expected = pq.read_table(path)
    ds = make(path, format="arrow")
    assert ds.num_rows == ROWS
    assert len(ds) == math.ceil(ROWS / BS)
    got = arrow_table(ds)
    assert_tables_equal(got, expected)
    assert ds.schema.remove_metadata().equals(expected.schema.remove_metadata())


def test_arrow_batches_have_batch_size_rows(tmp_path, table):
    path = write(tmp_path / "t.parquet", table)
    sizes = [as_record_batch(b).num_rows for b in make(path, format="arrow", batch_size=47)]
    assert sizes == [47] * (ROWS // 47) + [ROWS % 47]


def test_arrow_across_files(tmp_path, table):
    write(tmp_path / "a.parquet", table.slice(0, 130), compression="snappy")
    write(tmp_path / "b.parquet", table.slice(130), compression="gzip", data_page_version="2.0")
    got = arrow_table(make(tmp_path, format="arrow", batch_size=37))
    assert_tables_equal(got, table)


# ---- numpy -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def values_file(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("values") / "t.parquet"
    return write(path, table, compression="zstd", data_page_version="2.0", write_page_index=True)


def numpy_batches(path, columns):
    batches = list(make(path, format="numpy", columns=columns))
    assert batches
    for b in batches:
        assert isinstance(b, dict) and list(b) == list(columns)
    return batches


def test_numpy_primitives(values_file, table):
    batches = numpy_batches(values_file, PRIMITIVES)
    for name in PRIMITIVES:
        parts = [b[name] for b in batches]
        for part in parts:
            assert type(part) is np.ndarray and part.ndim == 1, (name, type(part))
        got = np.concatenate(parts)
        want = table.column(name).to_numpy()
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_numpy_batch_lengths(values_file):
    batches = numpy_batches(values_file, ["row_id", "f64"])
    assert [len(b["row_id"]) for b in batches] == [BS] * (ROWS // BS)
    assert flat(id_batches(batches)) == list(range(ROWS))


@pytest.mark.parametrize(
    "name", [f"{n}_n" for n in INT_TYPES + FLOAT_TYPES + ["bool", "str", "large_str"]]
)
def test_numpy_nulls_are_masked(values_file, table, name):
    batches = numpy_batches(values_file, [name])
    parts = [b[name] for b in batches]
    column = table.column(name).combine_chunks()
    offset = 0
    for part in parts:
        assert isinstance(part, np.ndarray) and part.ndim == 1, type(part)
        want = column.slice(offset, len(part))
        offset += len(part)
        nulls = want.is_null().to_numpy(zero_copy_only=False)
        if nulls.any():
            assert isinstance(part, np.ma.MaskedArray), f"{name}: nulls but no mask"
        np.testing.assert_array_equal(np.ma.getmaskarray(part), nulls, err_msg=name)
        data = np.ma.getdata(part)[~nulls]
        valid = want.drop_null()
        if name.startswith(("str", "large_str")):
            assert part.dtype == object
            assert list(data) == valid.to_pylist()
        else:
            expected = valid.to_numpy(zero_copy_only=False)
            assert part.dtype == expected.dtype, (name, part.dtype, expected.dtype)
            np.testing.assert_array_equal(data, expected, err_msg=name)
    assert offset == ROWS


@pytest.mark.parametrize("name", ["str", "large_str"])
def test_numpy_strings_are_object_arrays(values_file, table, name):
    batches = numpy_batches(values_file, [name])
    got = []
    for b in batches:
        part = b[name]
        assert type(part) is np.ndarray and part.dtype == object and part.ndim == 1
        assert all(isinstance(v, str) for v in part)
        got += list(part)
    assert got == table.column(name).to_pylist()


def test_numpy_fixed_size_list_is_2d(values_file, table):
    batches = numpy_batches(values_file, ["fsl"])
    parts = [b["fsl"] for b in batches]
    for part in parts:
        assert isinstance(part, np.ndarray) and part.ndim == 2 and part.shape[1] == 4
        assert part.dtype == np.float32
    got = np.concatenate(parts)
    want = table.column("fsl").combine_chunks().flatten().to_numpy().reshape(-1, 4)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["list_i32"])
def test_numpy_list_is_values_and_offsets(values_file, table, name):
    batches = numpy_batches(values_file, [name])
    got = []
    for b in batches:
        values, offsets = b[name]
        values, offsets = np.asarray(values), np.asarray(offsets)
        assert values.ndim == 1 and values.dtype == np.int32
        assert offsets.ndim == 1 and np.issubdtype(offsets.dtype, np.integer)
        rows = len(offsets) - 1
        assert rows >= 1 and np.all(np.diff(offsets) >= 0)
        got += [values[offsets[i] : offsets[i + 1]].tolist() for i in range(rows)]
    assert got == table.column(name).to_pylist()


def test_numpy_is_the_default_format(values_file):
    batch = next(iter(make(values_file, columns=["i64"])))
    assert isinstance(batch, dict) and isinstance(batch["i64"], np.ndarray)


# ---- torch -----------------------------------------------------------------------------------


def test_torch_primitives_equal_numpy(values_file, table):
    import torch

    batches = list(make(values_file, format="torch", columns=TORCH_PRIMITIVES))
    assert len(batches) == math.ceil(ROWS / BS)
    for name in TORCH_PRIMITIVES:
        parts = [b[name] for b in batches]
        for part in parts:
            assert isinstance(part, torch.Tensor) and part.dim() == 1, (name, type(part))
        got = torch.cat(parts)
        want = np.array(table.column(name).to_numpy())  # a writable copy for torch
        assert got.dtype == torch.from_numpy(want).dtype, (name, got.dtype)
        np.testing.assert_array_equal(got.numpy(), want, err_msg=name)


# ---- polars ----------------------------------------------------------------------------------

POLARS_COLUMNS = [
    "row_id",
    "i8",
    "u64",
    "f32",
    "bool",
    "str",
    "large_str",
    "bin",
    "ts_us",
    "ts_us_utc",
    "date",
    "list_i32",
    "large_list",
    "fsl",
    "list_list",
    "struct",
    "i64_n",
    "str_n",
    "list_i32_n",
    "struct_n",
]


def test_polars(values_file, table):
    expected = pl.from_arrow(table.select(POLARS_COLUMNS))
    frames = []
    for b in make(values_file, format="arrow", columns=POLARS_COLUMNS):
        df = pl.from_arrow(as_record_batch(b))
        assert isinstance(df, pl.DataFrame) and df.columns == POLARS_COLUMNS
        frames.append(df)
    assert pl.concat(frames).equals(expected)
    # The yielded object itself goes straight into polars (Arrow PyCapsule stream).
    direct = pl.concat([pl.DataFrame(b) for b in make(values_file, format="arrow")])
    assert direct.height == ROWS
    assert direct["row_id"].to_list() == list(range(ROWS))
    assert direct["str_n"].to_list() == table.column("str_n").to_pylist()


# ---- projection ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["numpy", "arrow"])
def test_projection_order(values_file, table, fmt):
    columns = ["str", "row_id", "f64_n", "i8"]
    ds = make(values_file, columns=columns, format=fmt)
    for b in ds:
        names = list(b) if fmt == "numpy" else as_record_batch(b).schema.names
        assert names == columns
    if fmt == "arrow":
        assert_tables_equal(arrow_table(ds), table.select(columns))


def test_projection_of_a_nested_column(values_file, table):
    got = arrow_table(make(values_file, columns=["struct_n", "list_list_n"], format="arrow"))
    assert_tables_equal(got, table.select(["struct_n", "list_list_n"]))


def test_projection_of_a_missing_column(values_file):
    with pytest.raises(ValueError, match="no_such_column"):
        ds = make(values_file, columns=["row_id", "no_such_column"])
        list(ds)


# ---- filters ---------------------------------------------------------------------------------

FILTER_ROWS = 500


@pytest.fixture(scope="module")
def filter_files(tmp_path_factory):
    """Two files of rows sorted by ``row_id`` (row groups of 50 rows: prunable by
    ``row_id`` statistics) with nullable int ``a``, string ``b`` and float ``c``."""
    rng = np.random.default_rng(5)
    n = FILTER_ROWS
    a = rng.integers(0, 10, size=n)
    b = np.array(["w", "x", "y", "z"])[rng.integers(0, 4, size=n)]
    c = rng.random(n)
    table = pa.table(
        {
            "row_id": pa.array(np.arange(n, dtype=np.int64)),
            "a": pa.array(a, mask=rng.random(n) < 0.1),
            "b": pa.array(b, mask=rng.random(n) < 0.1),
            "c": pa.array(c, mask=rng.random(n) < 0.15),
        }
    )
    directory = tmp_path_factory.mktemp("filters")
    paths = [str(directory / "part-0.parquet"), str(directory / "part-1.parquet")]
    pq.write_table(table.slice(0, 220), paths[0], row_group_size=50)
    pq.write_table(table.slice(220), paths[1], row_group_size=50)
    return directory, paths


def _predicate(term):
    if len(term) == 2:
        col, op = term
        assert op in ("is_null", "is_not_null")
        return pads.field(col).is_null() if op == "is_null" else pads.field(col).is_valid()
    return pq.filters_to_expression([[term]])


def to_expression(dnf):
    """The pyarrow expression of a DNF filter (``filters_to_expression`` plus is_null)."""
    if isinstance(dnf, tuple):
        dnf = [[dnf]]
    elif dnf and isinstance(dnf[0], tuple):
        dnf = [dnf]
    expr = None
    for conjunction in dnf:
        term = None
        for predicate in conjunction:
            p = _predicate(predicate)
            term = p if term is None else term & p
        expr = term if expr is None else expr | term
    return expr


def expected_ids(paths, dnf) -> list[int]:
    expr = to_expression(dnf)
    out = []
    for path in paths:
        out += pq.read_table(path, filters=expr, columns=["row_id"])["row_id"].to_pylist()
    if all(len(t) == 3 for conj in _conjunctions(dnf) for t in conj):
        # Cross-check the expression against pyarrow's own reading of the DNF list.
        direct = []
        for path in paths:
            direct += pq.read_table(path, filters=dnf, columns=["row_id"])["row_id"].to_pylist()
        assert direct == out
    return out


def _conjunctions(dnf):
    return [dnf] if dnf and isinstance(dnf[0], tuple) else dnf


FILTERS = [
    [("a", "==", 3)],
    [("a", "=", 3)],
    [("a", "!=", 3)],
    [("a", "<", 3)],
    [("a", "<=", 3)],
    [("a", ">", 6)],
    [("a", ">=", 6)],
    [("a", "in", [1, 4, 7])],
    [("a", "not in", [1, 4, 7])],
    [("b", "==", "x")],
    [("b", "!=", "x")],
    [("b", "<", "y")],
    [("b", "in", ["w", "z"])],
    [("b", "not in", ["w", "z"])],
    [("c", ">", 0.5)],
    [("c", "<=", 0.25)],
    [("c", "is_null")],
    [("c", "is_not_null")],
    [("b", "is_null")],
    [("a", ">", 2), ("b", "==", "x")],
    [("a", ">", 2), ("c", "is_not_null"), ("b", "!=", "w")],
    [[("a", "==", 1)], [("b", "in", ["y", "z"])]],
    [[("c", "is_null")], [("a", "==", 0)]],
    [[("a", "<", 2), ("c", ">", 0.9)], [("row_id", ">=", 480)]],
    [("row_id", ">=", 120), ("row_id", "<", 333)],
]


@pytest.mark.parametrize("dnf", FILTERS, ids=[repr(f) for f in FILTERS])
def test_filter_matches_pyarrow(filter_files, dnf):
    directory, paths = filter_files
    want = expected_ids(paths, dnf)
    assert 0 < len(want) < FILTER_ROWS
    ds = make(directory, filter=dnf, batch_size=7)
    batches = id_batches(ds)
    assert flat(batches) == want
    assert ds.num_rows == len(want)
    assert len(ds) == len(batches) == math.ceil(len(want) / 7)
    assert [len(b) for b in batches[:-1]] == [7] * (len(batches) - 1)


def test_filter_with_projection_and_arrow(filter_files):
    directory, paths = filter_files
    dnf = [("a", ">=", 5), ("b", "in", ["x", "y"])]
    ds = make(directory, filter=dnf, columns=["c", "row_id"], format="arrow")
    got = arrow_table(ds)
    assert got.schema.names == ["c", "row_id"]
    expected = pa.concat_tables(
        pq.read_table(p, filters=dnf, columns=["c", "row_id"]) for p in paths
    )
    assert_tables_equal(got, expected)


@pytest.mark.parametrize("drop_remainder", [True, False])
def test_filter_sharded_over_ranks(filter_files, drop_remainder):
    directory, paths = filter_files
    dnf = [[("a", "<", 4)], [("c", "is_null")]]
    want = expected_ids(paths, dnf)
    world = 3
    rows = []
    counts = set()
    for rank in range(world):
        ds = make(
            directory,
            filter=dnf,
            rank=rank,
            world_size=world,
            shuffle=True,
            drop_remainder=drop_remainder,
        )
        assert ds.num_rows == len(want)
        got = flat(id_batches(ds))
        counts.add(len(got))
        rows += got
    assert len(counts) == 1
    if drop_remainder:
        assert len(rows) == len(want) - len(want) % world
        assert len(set(rows)) == len(rows) and set(rows) <= set(want)
    else:
        assert set(rows) == set(want)


@pytest.mark.parametrize(
    "dnf",
    [
        [("row_id", ">", 10**6)],
        [("row_id", "<", 0)],
        [("b", "==", "nope")],
        [("a", ">", 100), ("row_id", ">=", 0)],
        [[("row_id", "<", -5)], [("a", "in", [50, 60])]],
    ],
)
def test_filter_matching_nothing(filter_files, dnf):
    directory, paths = filter_files
    assert expected_ids(paths, dnf) == []
    ds = make(directory, filter=dnf)
    assert ds.num_rows == 0
    assert len(ds) == 0
    assert list(ds) == []


@pytest.fixture(scope="module")
def typed_filter_file(tmp_path_factory):
    """One row group per two rows of dates, timestamps, decimals and float32 with a NaN."""
    import datetime

    day = datetime.date(2024, 1, 1)
    noon = datetime.datetime(2024, 1, 1, 12)
    n = 6
    table = pa.table(
        {
            "row_id": pa.array(range(n), pa.int64()),
            "d": pa.array([day + datetime.timedelta(days=i) for i in range(n)]),
            "ts": pa.array(
                [noon + datetime.timedelta(seconds=i) for i in range(n)], pa.timestamp("us")
            ),
            "utc": pa.array(
                [noon + datetime.timedelta(hours=i) for i in range(n)], pa.timestamp("s", "UTC")
            ),
            "dec": pa.array([decimal.Decimal(f"{i}.{i}0") for i in range(n)], pa.decimal128(10, 2)),
            "f": pa.array([float("nan"), 2.0, 2.0, 2.0, 3.5, -1.0], pa.float32()),
        }
    )
    path = tmp_path_factory.mktemp("typed-filters") / "t.parquet"
    pq.write_table(table, path, row_group_size=2)
    return path


@pytest.mark.parametrize(
    "dnf, want",
    [
        # Literals pyarrow's own filters refuse (no kernel for date32 vs string, a decimal's
        # precision too small for an int64): dates, times and timestamps take ISO 8601 strings,
        # decimals compare exactly with integers.
        ([("d", ">=", "2024-01-04")], [3, 4, 5]),
        ([("ts", "==", "2024-01-01 12:00:02")], [2]),
        ([("ts", "<", "2024-01-01T13:00:01+01:00")], [0]),
        ([("utc", ">", "2024-01-01T14:00:00")], [3, 4, 5]),
        ([("dec", ">", 2)], [2, 3, 4, 5]),
        ([("dec", "==", 1.1)], [1]),
        # A float32 column against an integer; a NaN is `!=` everything, which statistics
        # (they leave NaNs out) must not prune away: row group 0 is [NaN, 2.0].
        ([("f", ">=", 2)], [1, 2, 3, 4]),
        ([("f", "!=", 2)], [0, 4, 5]),
        ([("f", "in", [2, 3.5])], [1, 2, 3, 4]),
        ([("f", "not in", [2])], [0, 4, 5]),
    ],
    ids=repr,
)
def test_filters_on_dates_timestamps_decimals_and_nans(typed_filter_file, dnf, want):
    ds = make(typed_filter_file, filter=dnf, batch_size=4)
    assert flat(id_batches(ds)) == want
    # pyarrow's compute agrees on what it can compare (the float and decimal-vs-float rows).
    col, op, value = dnf[0]
    if col == "f" and op in ("!=", ">="):
        f = pq.read_table(typed_filter_file)["f"]
        mask = pc.not_equal(f, value) if op == "!=" else pc.greater_equal(f, value)
        assert [i for i, m in enumerate(mask.to_pylist()) if m] == want


@pytest.mark.parametrize(
    "dnf, words",
    [
        ([("d", "==", "next tuesday")], ['"d"', "is not a date"]),
        ([("d", "==", 3)], ['"d"', "cannot compare"]),
        ([("dec", "==", "1.10")], ['"dec"', "cannot compare"]),
        ([("row_id", "==", "3")], ['"row_id"', "cannot compare", "Int64"]),
    ],
    ids=repr,
)
def test_filter_literal_of_another_kind_is_an_error_naming_the_column(
    typed_filter_file, dnf, words
):
    with pytest.raises(ValueError) as raised:
        list(make(typed_filter_file, filter=dnf))
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))
