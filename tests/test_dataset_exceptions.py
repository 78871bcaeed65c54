"""The dataset's exception classes: each raised by a real damaged or mismatched file, carrying
the file, row group, column and offset, and caught both by its own class and by the
``ValueError`` these cases raised before they had classes."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import make_dataset

from hf3fs.dataset import (
    CorruptFileError,
    DatasetError,
    Pack,
    SchemaMismatchError,
    UnsupportedTypeError,
)

ROWS = 4000


def read_all(source, **kwargs) -> int:
    """Rows read (batches as dicts of columns, or Arrow batches)."""
    return sum(
        b.num_rows if hasattr(b, "num_rows") else len(next(iter(b.values())))
        for b in make_dataset(source, **kwargs)
    )


def write_table(path, table: pa.Table, **options) -> None:
    pq.write_table(table, str(path), row_group_size=ROWS // 2, **options)


def two_columns() -> pa.Table:
    return pa.table(
        {
            "row_id": pa.array(range(ROWS), pa.int64()),
            "value": pa.array([float(i) * 0.5 for i in range(ROWS)], pa.float64()),
        }
    )


def raised(exc_class, source, **kwargs) -> BaseException:
    """The exception reading ``source`` raises, which must also be a ``ValueError``."""
    with pytest.raises(ValueError) as caught_as_before:
        read_all(source, **kwargs)
    with pytest.raises(exc_class) as caught:
        read_all(source, **kwargs)
    assert type(caught.value) is type(caught_as_before.value)
    assert isinstance(caught.value, DatasetError)
    return caught.value


def assert_survives_pickling_and_reraise(exc: BaseException, fields: tuple[str, ...]) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc) and str(copy) == str(exc)
    for name in fields:
        assert getattr(copy, name) == getattr(exc, name), name
    # torch's DataLoader re-raises a worker's exception as type(e)(message).
    again = type(exc)(str(exc))
    assert isinstance(again, ValueError) and str(again) == str(exc)


def test_a_corrupt_page_names_file_row_group_column_and_offset(tmp_path):
    path = tmp_path / "corrupt.parquet"
    write_table(path, two_columns(), compression="zstd", use_dictionary=False)
    chunk = pq.ParquetFile(path).metadata.row_group(1).column(1)
    start = chunk.data_page_offset
    data = bytearray(path.read_bytes())
    # Past the page header: the zstd frame of the second row group's "value" page.
    for i in range(start + 40, start + 200):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))

    exc = raised(CorruptFileError, path)
    assert exc.path == str(path) and str(path) in str(exc)
    assert exc.row_group == 1
    assert exc.column == "value"
    assert exc.offset == start
    assert_survives_pickling_and_reraise(exc, ("path", "row_group", "column", "offset"))
    # Reading only the intact column works: the damage is where the error says.
    assert read_all(path, columns=["row_id"]) == ROWS


def test_a_truncated_footer_is_a_corrupt_file_at_the_footer(tmp_path):
    path = tmp_path / "truncated.parquet"
    write_table(path, two_columns())
    data = path.read_bytes()
    path.write_bytes(data[:-3])

    exc = raised(CorruptFileError, path)
    assert exc.path == str(path)
    assert exc.row_group is None and exc.column is None
    assert exc.offset == len(data) - 3 - 8
    assert_survives_pickling_and_reraise(exc, ("path", "row_group", "column", "offset"))


def test_a_file_shorter_than_its_metadata_says_is_corrupt_where_it_ends(tmp_path):
    # A footer moved forward over cut data: the metadata points past the file's end.
    path = tmp_path / "cut.parquet"
    write_table(path, two_columns(), compression="none", use_dictionary=False)
    data = path.read_bytes()
    footer_len = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - footer_len :]
    body = data[: len(data) - 8 - footer_len]
    path.write_bytes(body[: len(body) - 1000] + footer)

    exc = raised(CorruptFileError, path)
    assert exc.path == str(path)
    assert exc.offset is not None and exc.offset <= path.stat().st_size


@pytest.mark.parametrize("change", ["type", "name"])
def test_a_schema_mismatch_names_both_files_and_the_column(tmp_path, change):
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_table(first, two_columns())
    if change == "type":
        other = two_columns().set_column(1, "value", pa.array(["x"] * ROWS))
    else:
        other = two_columns().rename_columns(["row_id", "score"])
    write_table(second, other)

    exc = raised(SchemaMismatchError, tmp_path)
    assert exc.path == str(second)
    assert exc.first_path == str(first)
    assert exc.column == "value"
    assert str(first) in str(exc) and str(second) in str(exc)
    assert_survives_pickling_and_reraise(exc, ("path", "first_path", "column"))


def test_packing_a_column_that_is_not_tokens_is_an_unsupported_type(tmp_path):
    path = tmp_path / "text.parquet"
    write_table(path, pa.table({"text": pa.array(["a b c"] * ROWS)}))

    exc = raised(UnsupportedTypeError, path, pack=Pack(column="text", seq_len=8))
    assert exc.column == "text"
    assert exc.data_type == "Utf8"
    assert_survives_pickling_and_reraise(exc, ("column", "data_type"))


def test_a_type_without_a_numpy_form_is_an_unsupported_type(tmp_path):
    path = tmp_path / "map.parquet"
    maps = pa.array([[("k", i)] for i in range(ROWS)], pa.map_(pa.string(), pa.int64()))
    write_table(path, pa.table({"m": maps}))

    exc = raised(UnsupportedTypeError, path, format="numpy")
    assert exc.column == "m"
    assert exc.data_type is not None and exc.data_type.startswith("Map")
    # The same data reads as Arrow.
    assert read_all(path, format="arrow") == ROWS


def test_bad_arguments_and_missing_files_keep_their_builtin_classes(tmp_path):
    write_table(tmp_path / "a.parquet", two_columns())
    with pytest.raises(ValueError) as exc:
        read_all(tmp_path, batch_size=0)
    assert not isinstance(exc.value, DatasetError)
    with pytest.raises(FileNotFoundError):
        read_all(tmp_path / "missing")
