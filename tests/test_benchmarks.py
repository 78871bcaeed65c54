"""Smoke runs of the benchmarks on tiny inputs: they must run and print their tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test runs a benchmark script in a subprocess

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_benchmark(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_io_benchmark_prints_every_reader_and_cache_mode():
    out = run_benchmark("io.py", "--smoke")
    assert "single-thread memcpy" in out
    for workload in ("4k-random", "1m-sequential"):
        for cache in ("page-cached", "evicted"):
            rows = [line for line in out.splitlines() if line.startswith(f"{workload:<14} {cache}")]
            readers = " ".join(rows)
            assert "hf3fs.preadv (uring" in readers or "hf3fs.preadv (threads" in readers
            assert "python os.preadv loop" in readers


def test_io_benchmark_json():
    data = json.loads(run_benchmark("io.py", "--smoke", "--json", "--engines", "threads"))
    assert data["memcpy_gbps"] > 0
    assert {r["reader"].split(" (")[0] for r in data["rows"]} == {
        "hf3fs.preadv",
        "python os.preadv loop",
    }
    assert all(
        r["ops"] > 0
        and r["bytes"] == r["ops"] * (4096 if r["workload"] == "4k-random" else 1 << 20)
        for r in data["rows"]
    )


def test_coalesce_benchmark_prints_every_plan():
    out = run_benchmark("coalesce.py", "--smoke")
    table = [line for line in out.splitlines() if line.startswith(("all ", "every 4th "))]
    for plan in ("per-chunk, sequential", "no coalescing", "arrow defaults", "network metrics"):
        assert sum(plan in line for line in table) == 2, out


def test_coalesce_benchmark_json_counts_requests():
    data = json.loads(run_benchmark("coalesce.py", "--smoke", "--json"))
    rows = {(r["columns"], r["plan"]): r for r in data["rows"]}
    for columns in ("all", "every 4th"):
        uncoalesced = rows[(columns, "no coalescing")]
        # Without coalescing, one request per column chunk, and only the bytes needed.
        assert uncoalesced["requests"] == uncoalesced["chunks"]
        assert uncoalesced["bytes_read"] == uncoalesced["bytes_needed"]
        merged = rows[(columns, "network metrics")]
        assert merged["requests"] <= uncoalesced["requests"]
        assert merged["bytes_read"] >= merged["bytes_needed"]
    # Reading every column leaves no holes: Arrow's defaults merge them into few requests.
    assert rows[("all", "arrow defaults")]["requests"] < rows[("all", "no coalescing")]["requests"]


def test_dataset_benchmark_readers_agree(tmp_path):
    results = tmp_path / "dataset.json"
    out = run_benchmark(
        "dataset.py",
        "--rows",
        "2000",
        "--files",
        "2",
        "--repeat",
        "1",
        "--quick",
        "--latency-ms",
        "1,5",
        "--json",
        str(results),
    )
    assert "MISMATCH" not in out
    data = json.loads(results.read_text())
    # One latency mode per --latency-ms value, run where --modes names "latency".
    assert list(data["modes"]) == ["warm", "cold", "latency-1ms", "latency-5ms"]
    assert data["latency_ms"] == [1.0, 5.0]
    loaders = {f"hf3fs-workers-{n}" for n in (0, 1, 2, 4)}
    peers = {"pyarrow-file", "pyarrow-dataset", "hf-datasets", "polars", "daft", "duckdb"}
    for mode, readers in data["modes"].items():
        assert set(readers) == {"hf3fs"} | peers | loaders
        for reader, r in readers.items():
            if r["status"] == "unavailable":
                # hf3fs.dataset not built; Daft is a bench extra, not a test dependency.
                assert reader in ("hf3fs", "daft"), (mode, reader, r)
                continue
            if r["status"] == "n/a":
                # No file-system hook for injected latency; DataLoader readers run warm only.
                if reader in loaders:
                    assert mode != "warm", (mode, r)
                else:
                    assert mode.startswith("latency-"), (mode, r)
                    assert reader in ("hf3fs", "polars", "daft", "duckdb"), (mode, r)
                continue
            assert r["status"] == "ok", (mode, reader, r)
            assert r["rows"] == 2000 and r["checksum"] == data["checksum"] and r["checksum_ok"]
            assert r["seconds"] > 0 and r["peak_rss_mib"] > 0
        assert f"mode {mode}:" in out
    assert "targets" in out

    # The summary sets each latency's rows/s against the same reader's warm rows/s.
    summary = data["latency_summary"]
    assert summary["warm_mode"]
    assert [lat["latency_ms"] for lat in summary["latencies"]] == [1.0, 5.0]
    for lat in summary["latencies"]:
        for reader, row in lat["readers"].items():
            r, w = data["modes"][lat["mode"]][reader], data["modes"]["warm"][reader]
            assert row["status"] == r["status"]
            if r["status"] == "ok" and w["status"] == "ok":
                assert row["kept"] == r["rows_per_s"] / w["rows_per_s"]
            else:
                assert row["kept"] is None
        assert len(lat["targets"]) == 2
        for what, verdict in lat["targets"].items():
            assert verdict.startswith(("met", "NOT met", "n/a"))
            assert f"{lat['latency_ms']:g} ms: {what}" in out
    assert "latency summary" in out


def test_dataset_benchmark_latency_needs_warm_for_kept(tmp_path):
    results = tmp_path / "dataset.json"
    args = ["--quick", "--modes", "latency", "--readers", "pyarrow-file", "--latency-ms", "0"]
    out = run_benchmark("dataset.py", *args, "--json", str(results))
    summary = json.loads(results.read_text())["latency_summary"]
    assert not summary["warm_mode"]
    (lat,) = summary["latencies"]
    assert lat["mode"] == "latency-0ms" and lat["readers"]["pyarrow-file"]["kept"] is None
    assert set(lat["targets"].values()) == {"n/a"}
    assert "the warm mode is not in --modes" in out


def test_dataset_benchmark_interleaved_mode(tmp_path):
    """One process runs hf3fs and polars pass by pass; the table and both targets print."""
    results = tmp_path / "dataset.json"
    out = run_benchmark("dataset.py", "--quick", "--modes", "interleaved", "--json", str(results))
    data = json.loads(results.read_text())
    assert list(data["modes"]) == ["interleaved"]
    readers = data["modes"]["interleaved"]
    assert list(readers) == ["hf3fs", "polars"]  # the mode's default readers
    for reader, r in readers.items():
        if r["status"] == "unavailable":  # hf3fs.dataset not built
            assert reader == "hf3fs", r
            continue
        assert r["status"] == "ok", (reader, r)
        assert r["rows"] == 2000 and r["checksum"] == data["checksum"] and r["checksum_ok"]
        assert len(r["all_seconds"]) == len(r["all_cpu_seconds"]) == 1  # --quick: one round
        assert r["rows_per_s_min"] <= r["rows_per_s"] <= r["rows_per_s_max"]
        assert r["cpu_seconds"] > 0
    summary = data["interleaved"]
    ran = [reader for reader, r in readers.items() if r["status"] == "ok"]
    assert summary["orders"] == [ran]
    assert "mode interleaved:" in out and "CPU s/pass" in out and "CPU vs hf3fs" in out
    assert "MISMATCH" not in out
    both = len(ran) == 2
    assert ("hf3fs / polars rows/s: " in out) == both
    for what in ("hf3fs rows/s >= 1.5x polars", "hf3fs CPU per pass <= 0.67x polars"):
        verdict = data["targets"][f"interleaved: {what}"]
        assert verdict.startswith(("met", "NOT met")) if both else verdict == "n/a"
        assert f"interleaved: {what}" in out


def test_dataset_benchmark_interleaved_mode_readers(tmp_path):
    """--readers picks the interleaved mode's readers; DataLoader and HF datasets are n/a."""
    results = tmp_path / "dataset.json"
    args = ["--quick", "--modes", "interleaved", "--readers", "pyarrow-file,hf-datasets"]
    run_benchmark("dataset.py", *args, "--repeat", "2", "--json", str(results))
    data = json.loads(results.read_text())
    readers = data["modes"]["interleaved"]
    assert readers["hf-datasets"]["status"] == "n/a"
    r = readers["pyarrow-file"]
    assert r["status"] == "ok" and r["checksum_ok"] and len(r["all_seconds"]) == 2
    assert data["interleaved"]["orders"] == [["pyarrow-file"]] * 2
    assert set(data["targets"][k] for k in data["targets"] if k.startswith("interleaved")) == {
        "n/a"
    }


def test_dataset_benchmark_plain_encoding(tmp_path):
    """--encoding plain writes PLAIN token pages, the readers agree on them, and --dir
    regenerates rather than reuse a corpus written with the other encoding."""
    import pyarrow.parquet as pq

    directory, results = tmp_path / "corpus", tmp_path / "dataset.json"
    common = ["--quick", "--modes", "warm", "--readers", "hf3fs,polars", "--dir", str(directory)]

    def token_encodings() -> set[str]:
        encodings = set()
        for path in sorted(directory.glob("*.parquet")):
            meta = pq.read_metadata(path)
            for g in range(meta.num_row_groups):
                rg = meta.row_group(g)
                for c in range(rg.num_columns):
                    if rg.column(c).path_in_schema.startswith("input_ids"):
                        encodings |= set(rg.column(c).encodings)
        return encodings

    out = run_benchmark("dataset.py", *common, "--encoding", "plain", "--json", str(results))
    assert "plain encoding" in out and "(generated in" in out
    assert not {"PLAIN_DICTIONARY", "RLE_DICTIONARY"} & token_encodings()
    data = json.loads(results.read_text())
    assert data["encoding"] == "plain"
    for reader, r in data["modes"]["warm"].items():
        if r["status"] == "unavailable":  # hf3fs.dataset not built
            assert reader == "hf3fs", r
            continue
        assert r["status"] == "ok", (reader, r)
        assert r["rows"] == 2000 and r["checksum"] == data["checksum"] and r["checksum_ok"]
    assert "MISMATCH" not in out

    assert "(reused)" in run_benchmark("dataset.py", *common, "--encoding", "plain")
    out = run_benchmark("dataset.py", *common)  # dictionary, the default: written anew
    assert "dictionary encoding" in out and "(generated in" in out
    assert "RLE_DICTIONARY" in token_encodings() or "PLAIN_DICTIONARY" in token_encodings()


def test_dataset_benchmark_rejects_bad_latencies():
    for value, why in (("2,abc", "'abc' is not a number"), ("-1", "must be a finite value >= 0")):
        proc = subprocess.run(
            [sys.executable, str(BENCHMARKS / "dataset.py"), "--latency-ms", value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert "argument --latency-ms: " in proc.stderr and why in proc.stderr


def test_s3_benchmark_readers_agree():
    """A tiny run against its own moto server: every reader sums the same rows."""
    data = json.loads(run_benchmark("s3.py", "--smoke", "--json"))
    assert set(data["results"]) == {"tokens", "many-files"}
    for case, readers in data["results"].items():
        assert set(readers) == {"hf3fs", "hf3fs-first-open", "pyarrow-dataset", "hf-datasets"}
        for reader, r in readers.items():
            assert r["status"] == "ok", (case, reader, r)
            assert r["checksum"] == data["expected"][case], (case, reader)
            assert 0 < r["first_batch"] <= r["seconds"]
    rows = {case: readers["hf3fs"]["rows"] for case, readers in data["results"].items()}
    assert rows == {"tokens": 4000, "many-files": 640}


def test_pack_benchmark_readers_agree(tmp_path):
    """Each packer's batches sum to what the definition gives for the generated corpus."""
    results = tmp_path / "pack.json"
    out = run_benchmark("pack.py", "--smoke", "--json", str(results))
    data = json.loads(results.read_text())
    labels = {
        "hf3fs": "hf3fs Pack",
        "numpy": "numpy packer",
        "hf-datasets": "HF datasets group_texts",
    }
    assert set(data["readers"]) == set(labels)
    for reader, r in data["readers"].items():
        assert r["status"] == "ok", (reader, r)
        assert r["checksum_ok"] and r["sums"] == r["expected"], (reader, r)
        assert r["sums"]["batches"] > 0 and r["batches_per_s"] > 0
        (row,) = [line for line in out.splitlines() if line.startswith(f"{labels[reader]:<24} ")]
        assert row.rstrip().endswith("OK"), row
    # hf3fs and the numpy packer yield the same batches, position ids and pieces included.
    assert data["readers"]["hf3fs"]["sums"] == data["readers"]["numpy"]["sums"]
    assert "positions" in data["readers"]["hf3fs"]["sums"]
    assert "MISMATCH" not in out
    assert "hf3fs >= 3x the numpy packer: " in out
