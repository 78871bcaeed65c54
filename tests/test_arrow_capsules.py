"""The Arrow PyCapsule interface of batches, datasets and packed arrays.

Consumers (pyarrow, polars, DuckDB) take the C data interface's structs out
of the capsules; a ``requested_schema`` is honoured where pyarrow can cast
to it and ignored otherwise, as the interface specifies.
"""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import make_dataset

from hf3fs.dataset import Pack

SCHEMA = pa.schema(
    [("id", pa.int32()), ("name", pa.string()), ("vals", pa.list_(pa.int16()))],
    metadata={b"origin": b"test"},
)


@pytest.fixture
def one_file(tmp_path):
    n = 50
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int32()),
            "name": [f"row{i}" if i % 7 else None for i in range(n)],
            "vals": pa.array([[i, -i] for i in range(n)], pa.list_(pa.int16())),
        },
        schema=SCHEMA,
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    return path, table


def first_batch(path, **kwargs):
    return next(iter(make_dataset(path, batch_size=20, format="arrow", **kwargs)))


def test_batch_schema_array_and_stream_round_trip(one_file):
    path, table = one_file
    batch = first_batch(path)
    want = table.slice(0, 20)
    assert pa.schema(batch) == want.schema
    got = pa.record_batch(batch)  # __arrow_c_array__
    assert got.equals(want.to_batches()[0])
    streamed = pa.table(batch)  # __arrow_c_stream__
    assert streamed.equals(want)
    assert make_dataset(path).schema.equals(SCHEMA, check_metadata=False)  # the dataset's capsule


def test_requested_schema_casts_what_pyarrow_can_cast(one_file):
    path, table = one_file
    batch = first_batch(path)
    wider = pa.schema(
        [("id", pa.int64()), ("name", pa.large_string()), ("vals", pa.list_(pa.int64()))]
    )
    schema_capsule, array_capsule = batch.__arrow_c_array__(wider.__arrow_c_schema__())
    got = pa.RecordBatch._import_from_c_capsule(schema_capsule, array_capsule)
    assert got.schema.equals(wider, check_metadata=False)
    assert got.column("id").to_pylist() == list(range(20))
    assert got.column("vals").to_pylist() == [[i, -i] for i in range(20)]

    stream = batch.__arrow_c_stream__(wider.__arrow_c_schema__())
    reader = pa.RecordBatchReader._import_from_c_capsule(stream)
    streamed = reader.read_all()
    assert streamed.schema.equals(wider, check_metadata=False)
    assert streamed.column("name").to_pylist() == table.column("name").to_pylist()[:20]


def test_requested_schema_pyarrow_cannot_cast_is_ignored(one_file):
    path, _ = one_file
    batch = first_batch(path)
    # A list cannot become a 32-bit integer: the batch comes as it is.
    odd = pa.schema([("id", pa.int32()), ("name", pa.string()), ("vals", pa.int32())])
    schema_capsule, array_capsule = batch.__arrow_c_array__(odd.__arrow_c_schema__())
    got = pa.RecordBatch._import_from_c_capsule(schema_capsule, array_capsule)
    assert got.schema.field("vals").type == pa.list_(pa.int16())
    assert got.num_rows == 20


def test_capsules_outlive_the_batch(one_file):
    path, table = one_file
    batch = first_batch(path)
    capsules = batch.__arrow_c_array__()
    stream = batch.__arrow_c_stream__()
    del batch
    gc.collect()
    got = pa.RecordBatch._import_from_c_capsule(*capsules)
    assert got.equals(table.slice(0, 20).to_batches()[0])
    assert pa.RecordBatchReader._import_from_c_capsule(stream).read_all().num_rows == 20
    # A capsule nobody imported is freed with the capsule (no leak, no double free).
    for _ in range(3):
        unused = first_batch(path).__arrow_c_array__()
        del unused
    gc.collect()


def test_packed_arrays_export_and_cast(tmp_path):
    ids = pa.array([list(range(1, 9)), list(range(10, 15))], pa.list_(pa.int32()))
    pq.write_table(pa.table({"input_ids": ids}), tmp_path / "c.parquet")
    pack = Pack("input_ids", 4, 2, eos_token=0, drop_partial=False)
    batch = next(iter(make_dataset(tmp_path / "c.parquet", pack=pack, format="arrow")))
    arr = pa.array(batch["input_ids"])
    assert pa.types.is_fixed_size_list(arr.type), arr.type
    assert (arr.type.list_size, arr.type.value_type) == (4, pa.int32())
    requested = pa.field("", pa.list_(pa.int64(), 4)).__arrow_c_schema__()
    schema_capsule, array_capsule = batch["input_ids"].__arrow_c_array__(requested)
    cast = pa.Array._import_from_c_capsule(schema_capsule, array_capsule)
    assert (cast.type.list_size, cast.type.value_type) == (4, pa.int64())
    np.testing.assert_array_equal(cast.flatten().to_numpy(), arr.flatten().to_numpy())
    # pyarrow's `pa.array(x, type=t)` relies on the producer's cast (pyarrow 26 fails
    # with an AttributeError when the type comes back different).
    wide = pa.array(batch["input_ids"], type=pa.list_(pa.int64(), 4))
    assert wide.type == pa.list_(pa.int64(), 4)
    assert wide.flatten().to_pylist() == arr.flatten().to_pylist()
