"""``hf3fs.plot`` charts (Agg backend: bars, values, labels) and progress bars
(``hf3fs._progress``, ``hf3fs.dataset.progress``, ``ParquetDataset(progress=...)``)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
from dataset_helpers import TWO_FILES  # noqa: E402

from hf3fs import _progress, plot  # noqa: E402
from hf3fs.dataset import ParquetDataset, progress  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_dist_env")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# parquet_dir (conftest): dataset_helpers.TWO_FILES, ``id`` numbering the rows 0..1499.
ROWS_A, ROWS_B = (TWO_FILES[name]["rows"] for name in ("a.parquet", "b.parquet"))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def widths(ax) -> list[float]:
    return [float(p.get_width()) for p in ax.patches]


def ytick_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def bar_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# --------------------------------------------------------------- throughput
def test_throughput_bars():
    rates = {"hf3fs": 120_000, "pyarrow": 80_000.5, "polars": 5.5}
    ax = plot.throughput(rates, unit="rows/s", title="readers")
    # The first reader on top: barh draws bottom-up, so the bars come reversed.
    assert len(ax.patches) == 3
    assert widths(ax) == [5.5, 80_000.5, 120_000.0]
    assert ytick_labels(ax) == ["polars", "pyarrow", "hf3fs"]
    assert bar_labels(ax) == ["5.5", "80,000", "120,000"]
    assert ax.get_xlabel() == "rows/s" and ax.get_title() == "readers"
    colors = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors[2] != colors[0] and colors[0] == colors[1]  # hf3fs stands out


def test_throughput_draws_on_a_given_axes():
    fig, (top, bottom) = plt.subplots(2, 1)
    assert plot.throughput({"hf3fs-x": 1.25, "b": 2}, unit="GB/s", ax=bottom) is bottom
    assert len(top.patches) == 0 and widths(bottom) == [2.0, 1.25]
    assert bottom.get_title() == "" and bottom.get_xlabel() == "GB/s"
    assert bar_labels(bottom) == ["2", "1.25"]


def test_throughput_empty_raises():
    with pytest.raises(ValueError, match="no results"):
        plot.throughput({})


# ------------------------------------------------------------- column_sizes
def expected_sizes(directory: Path) -> dict[str, tuple[int, int]]:
    sizes: dict[str, list[int]] = {}
    for path in sorted(directory.glob("*.parquet")):
        meta = pq.read_metadata(path)
        for g in range(meta.num_row_groups):
            for c in range(meta.row_group(g).num_columns):
                chunk = meta.row_group(g).column(c)
                entry = sizes.setdefault(chunk.path_in_schema.split(".")[0], [0, 0])
                entry[0] += chunk.total_compressed_size
                entry[1] += chunk.total_uncompressed_size
    return {name: (c, u) for name, (c, u) in sizes.items()}


@pytest.mark.parametrize("as_dict", [False, True], ids=["dataset", "info-dict"])
def test_column_sizes(parquet_dir, as_dict):
    ds = ParquetDataset(parquet_dir, columns=["id", "vals"])
    ax = plot.column_sizes(ds.info() if as_dict else ds)
    sizes = expected_sizes(parquet_dir)
    names = list(sizes)
    assert names == ["id", "name", "vals"]
    # Uncompressed bars first, then compressed, one each per column, in MB.
    assert len(ax.patches) == 2 * len(names)
    assert widths(ax) == pytest.approx(
        [sizes[n][1] / 1e6 for n in names] + [sizes[n][0] / 1e6 for n in names]
    )
    assert ytick_labels(ax) == ["id", "name (not read)", "vals"]
    assert ax.get_xlabel() == "MB"
    assert ax.get_title() == "2 files, 1,500 rows"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["uncompressed", "compressed"]


def test_column_sizes_title_and_empty():
    info = {"columns": {"x": {"compressed_bytes": 2e6, "uncompressed_bytes": 5e6}}}
    ax = plot.column_sizes(info, title="mine")
    assert ax.get_title() == "mine" and widths(ax) == [5.0, 2.0]
    assert ytick_labels(ax) == ["x"]
    with pytest.raises(ValueError, match="no columns"):
        plot.column_sizes({"columns": {}})
    with pytest.raises(ValueError):
        plot.column_sizes({})


# ------------------------------------------------------------ bench_results
DATASET_RESULTS = {
    "rows": 2000,
    "modes": {
        "warm": {
            "hf3fs": {"status": "ok", "rows_per_s": 50_000.0},
            "pyarrow-file": {"status": "ok", "rows_per_s": 40_000.0},
            "polars": {"status": "error", "error": "boom"},
        },
        "latency": {
            "hf3fs": {"status": "n/a"},
            "polars": {"status": "n/a"},
        },
        "cold": {
            "hf3fs": {"status": "ok", "rows_per_s": 30_000.0},
            "hf-datasets": {"status": "unavailable"},
            "pyarrow-dataset": {"status": "ok", "rows_per_s": 10_000.0},
        },
    },
}

IO_RESULTS = {
    "memcpy_gbps": 10.0,
    "rows": [
        {"workload": "4k-random", "cache": "page-cached", "reader": "hf3fs.preadv", "gbps": 2.0},
        {"workload": "4k-random", "cache": "page-cached", "reader": "os.preadv", "gbps": 0.5},
        {"workload": "4k-random", "cache": "evicted", "reader": "hf3fs.preadv", "gbps": 0.25},
        {"workload": "1m-sequential", "cache": "page-cached", "reader": "hf3fs.preadv", "gbps": 8},
        {"workload": "1m-sequential", "cache": "page-cached", "reader": "os.preadv", "gbps": 4},
        {"workload": "4k-random", "cache": "evicted", "reader": "os.preadv", "gbps": 0.125},
    ],
}


def test_bench_results_dataset(tmp_path):
    path = tmp_path / "dataset.png"
    fig = plot.bench_results(DATASET_RESULTS, path=str(path))
    # One panel per mode with a successful reader (latency has none), in order.
    assert [ax.get_title() for ax in fig.axes] == ["dataset, warm", "dataset, cold"]
    warm, cold = fig.axes
    assert ytick_labels(warm) == ["pyarrow-file", "hf3fs"]
    assert widths(warm) == [40_000.0, 50_000.0]
    assert ytick_labels(cold) == ["pyarrow-dataset", "hf3fs"]
    assert widths(cold) == [10_000.0, 30_000.0]
    assert all(ax.get_xlabel() == "rows/s" for ax in fig.axes)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_bench_results_io(tmp_path):
    fig = plot.bench_results(IO_RESULTS)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["4k-random, page-cached", "4k-random, evicted", "1m-sequential, page-cached"]
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert widths(panels["4k-random, page-cached"]) == [0.5, 2.0]
    assert ytick_labels(panels["4k-random, evicted"]) == ["os.preadv", "hf3fs.preadv"]
    assert widths(panels["4k-random, evicted"]) == [0.125, 0.25]
    assert widths(panels["1m-sequential, page-cached"]) == [4.0, 8.0]
    assert all(ax.get_xlabel() == "GB/s" for ax in fig.axes)
    assert sum(len(ax.patches) for ax in fig.axes) == len(IO_RESULTS["rows"])
    path = tmp_path / "io.svg"
    plot.bench_results(IO_RESULTS, path=str(path))
    assert path.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "results",
    [
        {},
        {"rows": []},
        {"modes": {}},
        {"modes": {"warm": {"hf3fs": {"status": "error"}}}},
        {"rows": [{"plan": "no coalescing", "columns": "all", "requests": 3}]},  # coalesce
    ],
    ids=["empty", "no-rows", "no-modes", "nothing-ok", "coalesce"],
)
def test_bench_results_nothing_to_plot(results):
    with pytest.raises(ValueError, match="nothing to plot"):
        plot.bench_results(results)


# --------------------------------------------------------------------- Bar
def test_bar_disabled_is_silent(capsys):
    bar = _progress.Bar(total=10, desc="quiet", enabled=False)
    bar.update(3)
    bar.set_postfix_str("x")
    bar.close()
    bar.close()
    with _progress.Bar(total=5, enabled=False) as b:
        b.update()
    assert list(_progress.iterate([1, 2, 3], total=3, enabled=False)) == [1, 2, 3]
    assert capsys.readouterr() == ("", "")


def test_bar_enabled_draws_on_stderr(capsys):
    with _progress.Bar(total=7, desc="things", unit="thing", enabled=True) as bar:
        for _ in range(7):
            bar.update(1)
        bar.set_postfix_str("done")
    out, err = capsys.readouterr()
    assert out == ""
    assert "things" in err and "7/7" in err and "100%" in err and "thing" in err
    assert list(_progress.iterate("abc", total=3, desc="letters", enabled=True)) == ["a", "b", "c"]
    err = capsys.readouterr().err
    assert "letters" in err and "3/3" in err


def test_bar_default_follows_the_terminal(capsys, monkeypatch):
    # Under pytest stderr is captured, not a terminal: no bar.
    assert not _progress.wanted(None)
    with _progress.Bar(total=4, desc="auto") as bar:
        bar.update(4)
    assert capsys.readouterr() == ("", "")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert _progress.wanted(None)
    with _progress.Bar(total=4, desc="auto") as bar:
        bar.update(4)
    assert "auto" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert _progress.wanted(False) is False


# ------------------------------------------------------- dataset progress
def flatten(batch: dict) -> dict:
    """Plain lists of a numpy batch (list columns as (values, offsets))."""
    flat = {}
    for name, value in batch.items():
        if isinstance(value, tuple):
            flat[name] = tuple(np.asarray(v).tolist() for v in value)
        else:
            flat[name] = np.asarray(value).tolist()
    return flat


def bar_lines(err: str, desc: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]", err) if line.startswith(desc)]


def test_progress_yields_the_same_batches(capsys, parquet_dir):
    ds = ParquetDataset(parquet_dir, batch_size=128, shuffle=True, seed=3)
    plain = [flatten(b) for b in ds]
    assert capsys.readouterr().err == ""
    with_bar = [flatten(b) for b in progress(ds, enabled=True)]
    assert with_bar == plain
    assert len(plain) == len(ds) == 12
    err = capsys.readouterr().err
    final = bar_lines(err, "batches")[-1]
    assert f"{len(ds)}/{len(ds)}" in final and "100%" in final

    # enabled=None under pytest: no bar; a custom label.
    assert [flatten(b) for b in progress(ds)] == plain
    assert capsys.readouterr().err == ""
    list(progress(ds, desc="epoch 0", enabled=True))
    assert bar_lines(capsys.readouterr().err, "epoch 0")
    # Anything without a length works too (no total).
    assert list(progress(iter(range(3)), enabled=True)) == [0, 1, 2]
    assert "3" in capsys.readouterr().err


def test_dataset_progress_option(capsys, parquet_dir):
    quiet = ParquetDataset(parquet_dir, batch_size=128, shuffle=True, seed=5, progress=False)
    expected = [flatten(b) for b in quiet]
    assert capsys.readouterr().err == ""
    loud = ParquetDataset(parquet_dir, batch_size=128, shuffle=True, seed=5, progress=True)
    assert bar_lines(capsys.readouterr().err, "reading footers")
    assert [flatten(b) for b in loud] == expected
    ids = sorted(i for b in expected for i in b["id"])
    assert ids == list(range(ROWS_A + ROWS_B))
    err = capsys.readouterr().err
    assert bar_lines(err, "rank 0 rows")
    # progress=None: only when a terminal watches (not under pytest).
    auto = ParquetDataset(parquet_dir, batch_size=128, shuffle=True, seed=5, progress=None)
    assert [flatten(b) for b in auto] == expected
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("batch_size", [128, 500])
def test_dataset_progress_bar_reaches_its_total(capsys, parquet_dir, batch_size):
    """The rows bar ends at 100% when every row was read (1500 rows are not a multiple
    of the batch size 128; they are of 500)."""
    ds = ParquetDataset(parquet_dir, batch_size=batch_size, progress=True)
    rows = sum(len(b["id"]) for b in ds)
    assert rows == ROWS_A + ROWS_B
    final = bar_lines(capsys.readouterr().err, "rank 0 rows")[-1]
    assert "100%" in final, final


# ------------------------------------------------------------------- info
def test_info_codecs_and_page_index(parquet_dir):
    info = ParquetDataset(parquet_dir, columns=["vals"]).info()
    files = {Path(f["path"]).name: f for f in info["files"]}
    assert files["a.parquet"]["page_index"] is False
    assert files["b.parquet"]["page_index"] is True
    assert files["a.parquet"]["row_groups"] == 4 and files["b.parquet"]["row_groups"] == 1
    assert files["a.parquet"]["rows"] == ROWS_A and files["b.parquet"]["rows"] == ROWS_B
    codecs = {name: sorted(c["codecs"]) for name, c in info["columns"].items()}
    assert codecs == {"id": ["SNAPPY", "ZSTD"], "name": ["SNAPPY", "ZSTD"], "vals": ["ZSTD"]}
    assert {name: c["read"] for name, c in info["columns"].items()} == {
        "id": False,
        "name": False,
        "vals": True,
    }
    sizes = expected_sizes(parquet_dir)
    for name, (compressed, uncompressed) in sizes.items():
        assert info["columns"][name]["compressed_bytes"] == compressed
        assert info["columns"][name]["uncompressed_bytes"] == uncompressed
    assert info["rows"] == info["num_rows"] == ROWS_A + ROWS_B
    assert info["row_groups"] == info["row_groups_read"] == 5


def test_footer_progress_counts_every_file(capsys, tmp_path):
    table = pa.table({"x": np.arange(10, dtype=np.int64)})
    for i in range(40):
        pq.write_table(table, tmp_path / f"part-{i:02d}.parquet")
    capsys.readouterr()
    ds = ParquetDataset(str(tmp_path), progress=True)
    err = capsys.readouterr().err.replace("\r", "\n")
    assert "reading footers" in err
    assert "40/40" in err
    assert ds.num_rows == 400


def test_footer_progress_callback_that_raises_does_not_fail_the_open(capsys, tmp_path):
    from hf3fs import _hf3fs

    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "a.parquet")
    calls = []

    def broken(done, files):
        calls.append((done, files))
        raise RuntimeError("the bar broke")

    ds = _hf3fs._Dataset([str(tmp_path)], on_footer=broken)
    assert ds.num_rows == 3
    assert calls == [(1, 1)]
    assert "the bar broke" in capsys.readouterr().err
