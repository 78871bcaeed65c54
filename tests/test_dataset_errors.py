"""``ParquetDataset`` errors: corrupt and truncated files fail cleanly (OSError or ValueError
naming the file, never a crash), schema mismatches, missing sources and bad arguments."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import (
    describe_exit,
    make_dataset,
    run_python_file,
    write_dataset,
)

pytestmark = pytest.mark.usefixtures("no_dist_env")


make = make_dataset


def build_and_iterate(source, **kwargs) -> int:
    ds = make(source, **kwargs)
    return sum(len(b["row_id"]) for b in ds)


# ---- corrupt and truncated files --------------------------------------------------------------

CORRUPT_ROWS = 1000


def corruptible_table() -> pa.Table:
    rng = np.random.default_rng(3)
    n = CORRUPT_ROWS
    words = ["apple", "banana", "cherry", "damson", "elder"]
    return pa.table(
        {
            "row_id": pa.array(np.arange(n, dtype=np.int64)),
            "f": pa.array(rng.standard_normal(n), mask=rng.random(n) < 0.1),
            "s": pa.array([f"value-{int(v)}" for v in rng.integers(0, 10**6, n)]),
            "d": pa.array(
                [words[int(i)] for i in rng.integers(0, 5, n)],
                type=pa.dictionary(pa.int32(), pa.string()),
            ),
            "l": pa.array(
                [list(range(int(k))) for k in rng.integers(0, 6, n)], type=pa.list_(pa.int32())
            ),
        }
    )


# The child does the corrupting and reading: a segfault or abort there fails the test with the
# variant it was on (printed before each attempt) instead of taking pytest down.
CORRUPT_SCRIPT = textwrap.dedent(
    """
    import json, os, random, sys, traceback

    import pyarrow as pa
    import pyarrow.parquet as pq

    from hf3fs.dataset import ParquetDataset

    source, workdir, result_path = sys.argv[1:4]
    original = open(source, "rb").read()
    meta = pq.ParquetFile(source).metadata
    expected_rows = meta.num_rows
    size = len(original)
    footer_len = int.from_bytes(original[-8:-4], "little")
    footer = (size - 8 - footer_len, size - 8)
    pages = []
    for rg in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(rg).column(c)
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset:
                start = min(start, col.dictionary_page_offset)
            pages.append((start, start + col.total_compressed_size))
    data_end = max(end for _, end in pages)
    index_region = (data_end, footer[0])  # column and offset indexes, when written

    variants = []  # (name, bytes, pages-only)
    for cut in list(range(0, size, 97)) + [size - 1, size - 4, size - 8, size - 9]:
        variants.append((f"truncate-{cut}", original[:cut], False))
    regions = [("page", pages)] * 40 + [("footer", [footer])] * 20
    if index_region[1] > index_region[0]:
        regions += [("index", [index_region])] * 6
    regions += [("tail", [(size - 8, size)])] * 2
    for seed, (kind, spans) in enumerate(regions):
        rng = random.Random(seed)
        data = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            lo, hi = rng.choice(spans)
            pos = rng.randrange(lo, hi)
            data[pos] ^= rng.randrange(1, 256)
        variants.append((f"flip-{kind}-{seed}", bytes(data), kind == "page"))

    problems = []
    outcomes = {"ok": 0, "error": 0}
    for name, blob, pages_only in variants:
        path = os.path.join(workdir, name + ".parquet")
        with open(path, "wb") as f:
            f.write(blob)
        # numpy only where the footer (so the schema) is intact: a flipped footer may
        # turn a column into a type that has no numpy form.
        footer_flip = name.startswith(("flip-footer", "flip-tail"))
        formats = ("arrow",) if footer_flip else ("arrow", "numpy")
        for fmt in formats:
            print(f"variant {name} format {fmt}", flush=True)
            invalid = None
            try:
                ds = ParquetDataset(path, format=fmt, batch_size=100, prefetch_bytes=4 << 20)
                declared = ds.num_rows
                rows = 0
                for batch in ds:
                    if fmt == "arrow":
                        rb = pa.record_batch(batch)
                        try:
                            rb.validate(full=True)
                        except Exception as e:
                            invalid = e
                            break
                        rows += rb.num_rows
                    else:
                        rows += len(next(iter(batch.values())))
            except (OSError, ValueError) as e:
                outcomes["error"] += 1
                if path not in str(e):
                    problems.append(f"{name} {fmt}: message does not name {path}: {e!r}")
                continue
            except BaseException as e:
                problems.append(
                    f"{name} {fmt}: {type(e).__name__} is neither OSError nor ValueError: "
                    + "".join(traceback.format_exception(e))[-1500:]
                )
                continue
            if invalid is not None:
                problems.append(f"{name} {fmt}: yielded invalid Arrow data: {invalid!r}")
                continue
            outcomes["ok"] += 1
            if rows != declared:
                problems.append(f"{name} {fmt}: yielded {rows} rows, num_rows says {declared}")
            if pages_only and rows != expected_rows:
                problems.append(f"{name} {fmt}: yielded {rows} rows, the file has {expected_rows}")
        os.unlink(path)

    with open(result_path, "w") as f:
        json.dump({"variants": len(variants), "outcomes": outcomes, "problems": problems}, f)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "options",
    [
        dict(compression="zstd", data_page_version="2.0", write_page_index=True),
        dict(compression="snappy", data_page_version="1.0", write_page_index=False),
        dict(compression="none", data_page_version="1.0", write_page_index=True),
    ],
    ids=["zstd-v2-index", "snappy-v1", "none-v1-index"],
)
def test_corrupt_and_truncated_files_fail_cleanly(tmp_path, options):
    source = tmp_path / "valid.parquet"
    pq.write_table(
        corruptible_table(),
        str(source),
        row_group_size=250,
        data_page_size=2048,
        write_batch_size=64,
        **options,
    )
    assert pq.read_table(str(source)).num_rows == CORRUPT_ROWS
    script = tmp_path / "corrupt.py"
    script.write_text(CORRUPT_SCRIPT)
    workdir = tmp_path / "variants"
    workdir.mkdir()
    result = tmp_path / "result.json"
    proc = run_python_file(script, str(source), str(workdir), str(result), timeout=280)
    assert proc.returncode == 0, "the corrupt-file loop crashed: " + describe_exit(proc)
    report = json.loads(result.read_text())
    assert report["variants"] > 60
    assert not report["problems"], "\n".join(report["problems"][:30])
    assert report["outcomes"]["error"] > 0


def test_a_valid_file_reads_through_the_corrupt_loop_path(tmp_path):
    """The uncorrupted file reads in full, so the loop's "ok" branch is meaningful."""
    path = tmp_path / "valid.parquet"
    pq.write_table(corruptible_table(), str(path), row_group_size=250)
    assert build_and_iterate(path, batch_size=100) == CORRUPT_ROWS


def test_not_parquet_names_the_file(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"this is not a parquet file at all" * 10)
    with pytest.raises((OSError, ValueError)) as exc:
        build_and_iterate(path)
    assert str(path) in str(exc.value)


def test_empty_file_names_the_file(tmp_path):
    write_dataset(tmp_path, [[10]])
    path = tmp_path / "part-00001.parquet"
    path.write_bytes(b"")
    with pytest.raises((OSError, ValueError)) as exc:
        build_and_iterate(tmp_path)
    assert str(path) in str(exc.value)


# ---- schema mismatch --------------------------------------------------------------------------


def test_schema_mismatch_names_the_second_file(tmp_path):
    first, second = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    pq.write_table(pa.table({"row_id": pa.array([0, 1], pa.int64())}), first)
    pq.write_table(pa.table({"row_id": pa.array(["x", "y"])}), second)
    for source in ([first, second], tmp_path):
        with pytest.raises(ValueError) as exc:
            build_and_iterate(source)
        assert second in str(exc.value)


def test_missing_column_in_a_later_file(tmp_path):
    first, second = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    pq.write_table(pa.table({"row_id": [0, 1], "x": [1.0, 2.0]}), first)
    pq.write_table(pa.table({"row_id": [2, 3]}), second)
    with pytest.raises(ValueError) as exc:
        build_and_iterate([first, second])
    assert second in str(exc.value)


# ---- sources --------------------------------------------------------------------------------


def test_empty_directory(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises((OSError, ValueError)) as exc:
        build_and_iterate(empty)
    assert str(empty) in str(exc.value)


def test_directory_without_parquet_files(tmp_path):
    directory = tmp_path / "other-files"
    directory.mkdir()
    (directory / "notes.txt").write_text("hello")
    (directory / "sub").mkdir()
    with pytest.raises((OSError, ValueError)) as exc:
        build_and_iterate(directory)
    assert str(directory) in str(exc.value)


def test_glob_matching_nothing(tmp_path):
    pattern = str(tmp_path / "*.parquet")
    with pytest.raises((OSError, ValueError)) as exc:
        build_and_iterate(pattern)
    assert pattern in str(exc.value)


def test_missing_paths_raise_file_not_found(tmp_path):
    missing = tmp_path / "does-not-exist.parquet"
    with pytest.raises(FileNotFoundError) as exc:
        build_and_iterate(missing)
    assert str(missing) in str(exc.value)
    missing_dir = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError):
        build_and_iterate(missing_dir)
    write_dataset(tmp_path / "real", [[5]])
    real = str(tmp_path / "real" / "part-00000.parquet")
    with pytest.raises(FileNotFoundError) as exc:
        build_and_iterate([real, str(missing)])
    assert str(missing) in str(exc.value)


def test_empty_source_list(tmp_path):
    with pytest.raises(ValueError):
        build_and_iterate([])


# ---- bad arguments ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    directory = tmp_path_factory.mktemp("args")
    write_dataset(directory, [[20, 30]])
    return directory


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=-3), "batch_size"),
        (dict(rank=2, world_size=2), "rank"),
        (dict(rank=5, world_size=2), "rank"),
        (dict(rank=-1, world_size=2), "rank"),
        (dict(rank=0, world_size=0), "world_size"),
        (dict(seed=-1), "seed"),
        (dict(shuffle_window=-1), "shuffle_window"),
        (dict(format="pandas"), "format"),
        (dict(format=""), "format"),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_bad_arguments_name_the_argument(good, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        build_and_iterate(good, **kwargs)


@pytest.mark.parametrize(
    "dnf, word",
    [
        ([("no_such_col", "==", 1)], "no_such_col"),
        ([("row_id", "~=", 1)], "~="),
        ([("row_id", "is_nan")], "is_nan"),
    ],
)
def test_bad_filters(good, dnf, word):
    with pytest.raises(ValueError, match=word):
        build_and_iterate(good, filter=dnf)


def test_state_with_a_wrong_shape_is_refused(good):
    ds = make(good)
    with pytest.raises(ValueError):
        ds.load_state_dict({"nonsense": 1})
        list(ds)


def test_errors_do_not_leak_open_files(tmp_path):
    """Failing constructions close what they opened."""
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 100 + b"PAR1")
    fd_dir = "/proc/self/fd"
    before = len(os.listdir(fd_dir))
    for _ in range(50):
        with pytest.raises((OSError, ValueError)):
            build_and_iterate(bad)
    assert len(os.listdir(fd_dir)) <= before + 5
