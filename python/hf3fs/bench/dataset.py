"""Streaming a token dataset into numpy: ``hf3fs.dataset`` vs pyarrow, HF ``datasets``, polars.

Generates a Parquet dataset of tokenised documents (zstd, ``--files`` files,
row groups of 8,192 rows):

* ``doc_id`` int64, ``input_ids`` list<int32> (128-2,048 Zipf-like token ids
  a row), ``score`` float32, ``source`` dictionary string (5 values), ``text``
  (~600 bytes of words; written but never read).

``--encoding plain`` writes every column without dictionary encoding
(``use_dictionary=False``), so the token pages are PLAIN-encoded; the default,
``dictionary``, is pyarrow's. The encoding is stored with the corpus in the
footers, so ``--dir`` never reuses a corpus written with the other one.

Each reader then streams ``doc_id``, ``input_ids`` and ``score`` in batches of
1,024 rows into numpy and sums every value; the checksum (sum of ``doc_id`` +
sum of every token id + sum of ``score``, rounded) must match the one computed
while generating. Scores are multiples of 1/64, so their sum is exact in any
order. The readers:

* ``hf3fs``: ``hf3fs.dataset.ParquetDataset(dir, format="numpy")``;
* ``pyarrow-file``: ``pyarrow.parquet.ParquetFile(f).iter_batches()`` per file;
* ``pyarrow-dataset``: ``pyarrow.dataset.dataset(dir).to_batches()``;
* ``hf-datasets``: ``load_dataset("parquet", streaming=True)``, arrow format;
* ``polars``: ``pl.scan_parquet(glob).select(...).collect_batches()``;
* ``daft``: ``daft.read_parquet(glob).select(...).to_arrow_iter()``, its
  batches sliced to 1,024 rows;
* ``duckdb``: ``SELECT ... FROM read_parquet(glob)`` fetched as Arrow record
  batches of 1,024 rows;
* ``hf3fs-workers-N`` (N = 0, 1, 2, 4; warm mode only): ``ParquetDataset(...,
  format="torch")`` through ``torch.utils.data.DataLoader(num_workers=N,
  batch_size=None, persistent_workers=True)`` (fork; the untimed pass starts the
  workers), to compare the handoff from worker processes with the same loader
  in-process (N = 0).

Every reader runs in a subprocess of its own (but in the interleaved mode),
so peak RSS is its alone (the child's ``VmHWM``: its ``ru_maxrss`` would
include this parent's peak, which Linux carries over exec). ``base MiB`` is
the child's RSS after its imports. HF datasets runs with ``USE_TORCH=0`` (and
TF, JAX) unless set: it would otherwise import torch, when installed, for
nothing the arrow format uses.
Each child reads once untimed, then ``--repeat`` timed runs (the median is
shown). MB/s counts the on-disk (compressed) bytes of the columns read, from
the Parquet footers. Modes:

* ``warm``: the files are in the page cache;
* ``cold``: every file is fsynced and evicted (``posix_fadvise(DONTNEED)``)
  before each timed run -- best effort: the kernel may keep pages; the
  ``cached`` column shows the fraction resident when each run started;
* ``latency``: page cache warm, but every read call goes through a file
  system that sleeps ``--latency-ms`` first (listing, info and open do not
  sleep, for any reader): ``FileSystem.slow(metadata_latency=0)`` for hf3fs,
  an fsspec file system (wrapped in ``pyarrow.fs.PyFileSystem`` for pyarrow,
  a registered ``slowfile://`` protocol for HF datasets); polars, Daft and
  DuckDB are n/a there (no hook this benchmark can give them that sleeps
  per read call: polars and Daft take no fsspec file system, and DuckDB's
  fsspec bridge reads through Python buffers, which would measure that
  bridge, not its reader). A comma list (``2,20,100``)
  runs the mode once per value, as modes ``latency-2ms``, ``latency-20ms``...
* ``interleaved`` (opt-in: not in the default ``--modes``): page cache warm,
  ONE child runs the in-process readers (``hf3fs,polars`` unless ``--readers``
  names others of hf3fs, pyarrow-*, polars, daft, duckdb; the DataLoader
  readers and HF datasets are n/a), each once untimed, then ``--repeat``
  rounds of a pass each, the order reversed every other round. Per pass:
  wall seconds and the process's CPU seconds (user + sys, every thread); the
  table gives the medians, the min-max rows/s and both against hf3fs (see
  :mod:`hf3fs.bench.interleaved`).

Targets for hf3fs, each reported met or not: >= 1.5x the fastest peer (warm),
``DataLoader`` with 2 workers >= 0.9x the same loader in-process (warm),
>= 3x the fastest pyarrow reader (each latency), >= 1.5x polars' rows/s and
<= 0.67x its CPU seconds a pass (interleaved), and peak RSS <=
``--prefetch-mib`` + 64 MiB (outside the interleaved mode's shared process).
After the modes, a latency summary gives each reader's rows/s at every
latency and the fraction of its own warm rows/s it keeps (n/a without the
warm mode), with two more targets per latency: hf3fs keeps >= 0.9x, and
loses a smaller fraction than pyarrow.dataset (see :mod:`hf3fs.bench.latency`).
Exit status 1 when a checksum differs, 2 when a reader fails.

    python benchmarks/dataset.py                          # 160,000 rows in 8 files
    python benchmarks/dataset.py --modes warm --repeat 5 --dir /data/bench-ds
    python benchmarks/dataset.py --modes warm,latency --latency-ms 2,20,100
    python benchmarks/dataset.py --modes interleaved --repeat 5 --encoding plain
    python benchmarks/dataset.py --quick                  # tiny and quick (CI)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

from .._progress import Bar
from . import _child
from .pagecache import warm

MiB = 1 << 20
COLUMNS = ["doc_id", "input_ids", "score"]
BATCH_SIZE = 1024
ROW_GROUP = 8192
VOCAB = 50_000
SOURCES = ["web", "books", "code", "arxiv", "wiki"]
PEERS = ["pyarrow-file", "pyarrow-dataset", "hf-datasets", "polars", "daft", "duckdb"]
# hf3fs through torch DataLoader workers: ``hf3fs-workers-N``.
LOADER_PREFIX = "hf3fs-workers-"
LOADER_WORKERS = [0, 1, 2, 4]
LOADERS = [f"{LOADER_PREFIX}{n}" for n in LOADER_WORKERS]
READERS = ["hf3fs", *PEERS, *LOADERS]
LABELS = {
    "hf3fs": "hf3fs ParquetDataset",
    "pyarrow-file": "pyarrow ParquetFile",
    "pyarrow-dataset": "pyarrow.dataset",
    "hf-datasets": "HF datasets streaming",
    "polars": "polars collect_batches",
    "daft": "Daft to_arrow_iter",
    "duckdb": "DuckDB record batches",
    **{f"{LOADER_PREFIX}{n}": f"hf3fs DataLoader {n} wk" for n in LOADER_WORKERS},
}
MODES = ["warm", "cold", "latency", "interleaved"]
DEFAULT_MODES = ["warm", "cold", "latency"]  # interleaved is opt-in
MODE_TEXT = {
    "warm": "page cache warm",
    "cold": "page cache evicted before each run (fsync + POSIX_FADV_DONTNEED; best effort)",
    "latency": "page cache warm, {ms:g} ms injected per read call",
    "interleaved": "page cache warm, one process, readers alternating pass by pass",
}
# The interleaved mode's readers: those that read in the consuming process itself.
IN_PROCESS = ["hf3fs", "pyarrow-file", "pyarrow-dataset", "polars", "daft", "duckdb"]
INTERLEAVED_READERS = ["hf3fs", "polars"]  # without --readers
ENCODINGS = ["dictionary", "plain"]
META_KEY = b"hf3fs-benchmark"
# Targets for hf3fs.
WARM_TARGET = 1.5  # x the fastest peer, page cache warm
LATENCY_TARGET = 3.0  # x the fastest pyarrow reader, under injected latency
LOADER_TARGET = 0.9  # DataLoader(num_workers=2) rows/s, x the same loader in-process
RSS_SLACK_MIB = 64  # peak RSS <= prefetch + this


# -- the dataset --------------------------------------------------------------


def zipf_like(rng: np.random.Generator, n: int, exponent: float, vocab: int) -> np.ndarray:
    """``n`` ids in [0, vocab): a Pareto tail folded into the vocabulary, so low ids dominate."""
    u = rng.random(n, dtype=np.float32)
    x = np.power(np.float32(1) - u, np.float32(-1 / (exponent - 1)))
    return np.fmod(x - 1, np.float32(vocab)).astype(np.int32)


def make_corpus(rng: np.random.Generator, words: int) -> bytes:
    """Words of a made-up language joined by spaces; rows of ``text`` are windows of it."""
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", np.uint8)
    nvocab = 8000
    lengths = rng.integers(2, 11, nvocab)
    chars = letters[np.minimum(rng.geometric(0.15, lengths.sum()) - 1, 25)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    vocab = [chars[bounds[i] : bounds[i + 1]].tobytes() for i in range(nvocab)]
    return b" ".join([vocab[i] for i in zipf_like(rng, words, 1.2, nvocab).tolist()])


def make_row_group(rng: np.random.Generator, first_id: int, n: int, corpus: bytes):
    """One row group's table and its (doc_id, input_ids, score) sums."""
    import pyarrow as pa

    lengths = rng.integers(128, 2049, n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    ids = zipf_like(rng, int(offsets[-1]), 1.4, VOCAB)
    doc_id = np.arange(first_id, first_id + n, dtype=np.int64)
    score = (rng.integers(0, 1024, n) / 64).astype(np.float32)  # exact sums in any order
    source = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, len(SOURCES), n).astype(np.int32)), SOURCES
    )
    text_offsets = np.zeros(n + 1, np.int32)
    np.cumsum(rng.integers(500, 701, n), out=text_offsets[1:])
    start = int(rng.integers(0, len(corpus) - text_offsets[-1]))
    text = pa.StringArray.from_buffers(
        n,
        pa.py_buffer(text_offsets),
        pa.py_buffer(memoryview(corpus)[start : start + int(text_offsets[-1])]),
    )
    table = pa.table(
        {
            "doc_id": doc_id,
            "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids)),
            "score": score,
            "source": source,
            "text": text,
        }
    )
    sums = (int(doc_id.sum()), int(ids.sum(dtype=np.int64)), float(score.sum(dtype=np.float64)))
    return table, sums


def existing_dataset(
    directory: str, rows: int, files: int, seed: int, encoding: str = "dictionary"
) -> dict | None:
    """The stored description of a dataset generated earlier with these parameters, if any."""
    extra = {"encoding": encoding}
    return _child.written_corpus(directory, rows, files, seed, META_KEY, extra=extra)


def generate(
    directory: str, rows: int, files: int, seed: int, encoding: str = "dictionary"
) -> dict:
    """Write the dataset, dictionary-encoded or PLAIN (``encoding``); return its
    description (with the expected checksum)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding {encoding!r}: choose from {', '.join(ENCODINGS)}")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    corpus = make_corpus(rng, 2_000_000)
    per_file = [rows // files + (i < rows % files) for i in range(files)]
    doc_sum = ids_sum = 0
    score_sum = 0.0
    tables = []
    first = 0
    for path, n in zip(_child.part_paths(directory, files), per_file, strict=True):
        writer = None
        for start in range(0, n, ROW_GROUP):
            m = min(ROW_GROUP, n - start)
            table, (d, i, s) = make_row_group(rng, first, m, corpus)
            first += m
            doc_sum, ids_sum, score_sum = doc_sum + d, ids_sum + i, score_sum + s
            if writer is None:
                writer = pq.ParquetWriter(
                    path,
                    table.schema,
                    compression="zstd",
                    use_dictionary=encoding == "dictionary",
                )
            writer.write_table(table, row_group_size=ROW_GROUP)
        tables.append((path, writer))
    checksum = doc_sum + ids_sum + round(score_sum)
    info = {
        "rows": rows,
        "files": files,
        "seed": seed,
        "encoding": encoding,
        "checksum": checksum,
    }
    # The description goes into every footer, so --dir can reuse the files.
    for _, writer in tables:
        writer.add_key_value_metadata({META_KEY.decode(): json.dumps(info)})
        writer.close()
    return info


def column_bytes(paths: list[str], columns: list[str]) -> tuple[int, int]:
    """On-disk (compressed) bytes of ``columns``' chunks, and of every column."""
    import pyarrow.parquet as pq

    read = total = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            for c in range(rg.num_columns):
                col = rg.column(c)
                total += col.total_compressed_size
                if col.path_in_schema.split(".")[0] in columns:
                    read += col.total_compressed_size
    return read, total


# -- the parent ---------------------------------------------------------------


def run_child(spec: dict) -> dict:
    env = dict(os.environ)
    # Latency mode's slow file system counts as remote storage, whose footers hf3fs keeps on
    # disk between opens; off, so every timed pass reads them as the peers do.
    env.setdefault("HF3FS_FOOTER_CACHE", "off")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return _child.run("hf3fs.bench.dataset", spec, env)


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def render_mode(key: str, mode: str, ms: float, results: dict[str, dict], repeat: int) -> list[str]:
    text = MODE_TEXT[mode].format(ms=ms)
    out = [f"mode {key}: {text}; median of {repeat} run(s)"]
    header = (
        f"{'reader':<24} {'rows/s':>12} {'MB/s':>8} {'peak RSS MiB':>12} {'base MiB':>8} "
        f"{'cached':>6} {'vs hf3fs':>8} {'checksum':>8}"
    )
    out += [header, "-" * len(header)]
    hf_rate = rate(results.get("hf3fs"))
    for reader, r in results.items():
        label = LABELS[reader]
        if r["status"] != "ok":
            out.append(f"{label:<24} {r['status']}: {r['error']}")
            continue
        vs = f"{r['rows_per_s'] / hf_rate:.2f}x" if hf_rate else "-"
        ok = "OK" if r["checksum_ok"] else "MISMATCH"
        out.append(
            f"{label:<24} {fmt_rate(r['rows_per_s']):>12} {r['mb_per_s']:>8.1f} "
            f"{r['peak_rss_mib']:>12.0f} {r['base_rss_mib']:>8.0f} {r['cached']:>6.0%} "
            f"{vs:>8} {ok:>8}"
        )
        if r.get("note"):
            out.append(f"{'':<24}   note: {r['note']}")
    peers = {k: rate(v) for k, v in results.items() if k in PEERS and rate(v)}
    if hf_rate and peers:
        best = max(peers, key=peers.__getitem__)
        out.append(f"hf3fs / fastest peer ({LABELS[best]}): {hf_rate / peers[best]:.2f}x")
    return out


def rate(r: dict | None) -> float | None:
    """A reader's rows/s, or None when it did not run to the end."""
    return r["rows_per_s"] if r and r.get("status") == "ok" else None


def met(ok: bool, detail: str) -> str:
    """A target's verdict: ``met (detail)`` or ``NOT met (detail)``."""
    return f"{'met' if ok else 'NOT met'} ({detail})"


def ratio_verdict(hf: float | None, others: list[float | None], target: float) -> str:
    """Whether hf3fs is ``target`` times the fastest of ``others``."""
    others = [o for o in others if o]
    if not (hf and others):
        return "n/a"
    x = hf / max(others)
    return met(x >= target, f"{x:.2f}x")


def targets(
    all_results: dict[str, dict[str, dict]], runs: list[tuple[str, str, float]], prefetch_mib: int
) -> list[tuple[str, str]]:
    lines = []
    warm = all_results.get("warm")
    if warm is not None:
        peers = [rate(r) for k, r in warm.items() if k in PEERS]
        lines.append(
            (
                f"warm: hf3fs >= {WARM_TARGET}x fastest peer",
                ratio_verdict(rate(warm.get("hf3fs")), peers, WARM_TARGET),
            )
        )
        in_process = rate(warm.get(f"{LOADER_PREFIX}0"))
        lines.append(
            (
                f"warm: 2 DataLoader workers >= {LOADER_TARGET}x 0 workers",
                ratio_verdict(rate(warm.get(f"{LOADER_PREFIX}2")), [in_process], LOADER_TARGET),
            )
        )
    for key, mode, _ in runs:
        if mode != "latency":
            continue
        latency = all_results[key]
        arrow = [rate(latency.get(k)) for k in ("pyarrow-file", "pyarrow-dataset")]
        lines.append(
            (
                f"{key}: hf3fs >= {LATENCY_TARGET}x fastest pyarrow reader",
                ratio_verdict(rate(latency.get("hf3fs")), arrow, LATENCY_TARGET),
            )
        )
    if "interleaved" in all_results:
        from .interleaved import targets as interleaved_targets  # it imports this module

        lines += interleaved_targets(all_results["interleaved"])
    # The interleaved mode's process holds every reader it runs: its peak is not hf3fs's.
    hf3fs_runs = [
        r
        for key, mode in all_results.items()
        if key != "interleaved" and (r := mode.get("hf3fs")) and r["status"] == "ok"
    ]
    limit = prefetch_mib + RSS_SLACK_MIB
    # Peak RSS, and the same bound on what the reader adds to its imports (torch when installed).
    for label, values in (
        ("peak RSS", [r["peak_rss_mib"] for r in hf3fs_runs]),
        ("peak - base RSS", [r["peak_rss_mib"] - r["base_rss_mib"] for r in hf3fs_runs]),
    ):
        verdict = met(max(values) <= limit, f"max {max(values):.0f} MiB") if values else "n/a"
        lines.append((f"hf3fs {label} <= prefetch {prefetch_mib} + {RSS_SLACK_MIB} MiB", verdict))
    return lines


def parse_list(text: str, allowed: list[str], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)} (choose from {', '.join(allowed)})")
    return items


def latency_list(text: str) -> list[float]:
    """``--latency-ms``: comma-separated milliseconds, each finite, >= 0 and given once."""
    values: list[float] = []
    for item in text.split(","):
        try:
            ms = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not a number of milliseconds (expected e.g. 2 or 2,20,100)"
            ) from None
        if not math.isfinite(ms) or ms < 0:
            raise argparse.ArgumentTypeError(f"{item.strip()} ms: must be a finite value >= 0")
        # Modes are keyed by ``{ms:g}``: values that print alike would share a table.
        if f"{ms:g}" in (f"{v:g}" for v in values):
            raise argparse.ArgumentTypeError(f"{ms:g} ms is given twice")
        values.append(ms)
    return values


def mode_runs(modes: list[str], latencies: list[float]) -> list[tuple[str, str, float]]:
    """(key, mode, latency ms) for each table, in ``--modes`` order; the latency mode once
    per ``--latency-ms`` value, keyed ``latency-20ms``."""
    runs = []
    for mode in modes:
        if mode == "latency":
            runs += [(f"latency-{ms:g}ms", mode, ms) for ms in latencies]
        else:
            runs.append((mode, mode, 0.0))
    return runs


def main(argv: list[str] | None = None, *, results: dict | None = None) -> int:
    """Run the benchmark; ``results``, when given, receives what ``--json`` writes."""
    p = argparse.ArgumentParser(
        prog="hf3fs bench dataset",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--rows", type=int, default=None, help="rows in all (default 160,000)")
    p.add_argument("--files", type=int, default=None, help="Parquet files (default 8)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs; the median (default 3)")
    p.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help=f"comma list of {','.join(MODES)} (default {','.join(DEFAULT_MODES)})",
    )
    p.add_argument(
        "--readers",
        help=f"comma list of {','.join(READERS)} (default: all; interleaved: "
        f"{','.join(INTERLEAVED_READERS)})",
    )
    p.add_argument(
        "--encoding",
        choices=ENCODINGS,
        default="dictionary",
        help="how the corpus is written: dictionary-encoded or PLAIN (default dictionary)",
    )
    p.add_argument("--prefetch-mib", type=int, default=256, help="hf3fs prefetch_bytes (MiB)")
    p.add_argument(
        "--latency-ms",
        type=latency_list,
        default="2",
        help="per read call (latency mode); a comma list runs the mode once per value (default 2)",
    )
    p.add_argument("--dir", help="generate (or reuse) the dataset here and keep it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--quick", action="store_true", help="tiny dataset, one run (smoke tests)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        from .dataset_readers import Child

        return _child.serve(lambda spec: Child(spec).run())
    quick = {"rows": 2000, "files": 2, "repeat": 1}
    full = {"rows": 160_000, "files": 8, "repeat": 3}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    modes = parse_list(args.modes, MODES, "modes")
    readers = parse_list(args.readers or ",".join(READERS), READERS, "readers")
    # Without --readers, the interleaved mode compares hf3fs with polars only.
    args.interleaved_readers = readers if args.readers else INTERLEAVED_READERS
    if args.rows < args.files or args.files < 1 or args.repeat < 1:
        p.error("need --files >= 1, --rows >= --files and --repeat >= 1")

    tmp = None
    directory = args.dir
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="hf3fs-dataset-bench-")
        directory = tmp.name
    try:
        return bench(args, os.path.abspath(directory), modes, readers, sink=results)
    finally:
        if tmp is not None:
            tmp.cleanup()


def bench(
    args, directory: str, modes: list[str], readers: list[str], sink: dict | None = None
) -> int:
    os.makedirs(directory, exist_ok=True)
    start = time.perf_counter()
    info = existing_dataset(directory, args.rows, args.files, args.seed, args.encoding)
    if info is None:
        _child.clear_written(directory, META_KEY)
        info = generate(directory, args.rows, args.files, args.seed, args.encoding)
        made = f"generated in {time.perf_counter() - start:.1f} s"
    else:
        made = "reused"
    paths = _child.part_paths(directory, args.files)
    read_bytes, all_bytes = column_bytes(paths, COLUMNS)
    disk = sum(os.path.getsize(p) for p in paths)
    print(
        f"dataset {directory}: {args.rows:,} rows in {args.files} files, {disk / 1e6:.1f} MB "
        f"({made}); {args.encoding} encoding; columns read {', '.join(COLUMNS)}: "
        f"{read_bytes / 1e6:.1f} MB on disk; "
        f"checksum {info['checksum']}"
    )
    print(
        f"batches of {BATCH_SIZE} rows into numpy; {os.cpu_count()} CPUs; one process per reader"
        + (" (interleaved: one for all)" if "interleaved" in modes else "")
    )
    print()

    runs = mode_runs(modes, args.latency_ms)
    all_results: dict[str, dict[str, dict]] = {}
    interleaved = None
    failed = mismatch = False
    for key, mode, ms in runs:
        if mode in ("warm", "latency", "interleaved"):
            for path in paths:
                warm(path)
        spec = {
            "mode": mode,
            "dir": directory,
            "paths": paths,
            "repeat": args.repeat,
            "latency_ms": ms,
            "prefetch_bytes": args.prefetch_mib * MiB,
        }
        if mode == "interleaved":
            from . import interleaved as inter  # it imports this module's helpers

            results, interleaved = inter.run_mode(spec, args.interleaved_readers)
        else:
            results = {}
            # Gone before the mode's table prints: a terminal shows which reader runs now.
            bar = Bar(total=len(readers), desc=f"mode {key}", unit="reader", leave=False)
            for reader in readers:
                bar.set_postfix_str(reader)
                results[reader] = run_child({**spec, "reader": reader})
                bar.update()
            bar.close()
        for r in results.values():
            if mode == "latency":
                r["latency_ms"] = ms
            if r["status"] == "ok":
                r["checksum_ok"] = r["checksum"] == info["checksum"] and r["rows"] == args.rows
                r["rows_per_s"] = r["rows"] / r["seconds"]
                r["mb_per_s"] = read_bytes / r["seconds"] / 1e6
                mismatch |= not r["checksum_ok"]
            elif r["status"] == "error":
                failed = True
        all_results[key] = results
        if mode == "interleaved":
            interleaved = inter.summarise(results, interleaved)
            print("\n".join(inter.render(results, interleaved, args.repeat)))
        else:
            print("\n".join(render_mode(key, mode, ms, results, args.repeat)))
        print()

    summary = None
    if any(mode == "latency" for _, mode, _ in runs):
        from .latency import render_summary, summarise  # it imports this module's helpers

        summary = summarise(all_results, runs, readers)
        print("\n".join(render_summary(summary)))
        print()
    verdicts = targets(all_results, runs, args.prefetch_mib)
    print("targets")
    for what, verdict in verdicts:
        print(f"  {what:<52} {verdict}")
    if mismatch:
        print()
        for mode, results in all_results.items():
            for reader, r in results.items():
                if r["status"] == "ok" and not r["checksum_ok"]:
                    print(
                        f"MISMATCH: {reader} ({mode}) read {r['rows']:,} rows, checksum "
                        f"{r['checksum']}; expected {args.rows:,} rows, checksum {info['checksum']}"
                    )
    data = {
        "rows": args.rows,
        "files": args.files,
        "encoding": args.encoding,
        "disk_bytes": disk,
        "read_column_bytes": read_bytes,
        "all_column_bytes": all_bytes,
        "checksum": info["checksum"],
        "batch_size": BATCH_SIZE,
        "repeat": args.repeat,
        "latency_ms": args.latency_ms,
        "prefetch_mib": args.prefetch_mib,
        "modes": all_results,
        "latency_summary": summary,
        "interleaved": interleaved,
        "targets": dict(verdicts),
    }
    if sink is not None:
        sink.update(data)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
    if mismatch:
        return 1
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
