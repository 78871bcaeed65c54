"""Streaming a token dataset from an S3-compatible store: ``hf3fs.dataset`` vs
``pyarrow.dataset`` (``pyarrow.fs.S3FileSystem``) and HF ``datasets`` (s3fs).

Two cases, uploaded to one bucket:

* ``tokens``: the token dataset of :mod:`hf3fs.bench.dataset` (``--rows``
  rows in ``--files`` zstd files, row groups of 8,192 rows);
* ``many-files``: ``--small-files`` files of ``--small-rows`` rows each,
  where listing and footers, not decoding, decide how soon work starts.

``hf3fs`` keeps footers of remote files on disk between opens (another
rank, a spawned worker, a restart: ``HF3FS_FOOTER_CACHE``), so its timed
passes find the footers the untimed pass read; ``hf3fs-first-open`` turns
the cache off and reads every footer each time. The run uses a cache
directory of its own, removed at the end.

Each reader streams ``doc_id``, ``input_ids`` and ``score`` in batches of
1,024 rows into numpy in a subprocess of its own, after one untimed pass
(imports, connection set-up): ``first batch`` is the time from opening the
dataset (listing and footers included) to the first batch, ``rows/s`` the
rows of the whole pass over its time, opening included. The checksum of every
pass must match the one computed while generating.

The store is a local ``moto_server`` started on 127.0.0.1 (``pip install
"moto[server]"``), or ``--endpoint URL`` with ``--bucket`` (it must exist,
and AWS_* variables must hold its credentials). moto answers every request
from one Python process, so the absolute numbers are moto's; the ratios
between readers are what carries over. Targets for hf3fs, reported met or
not: on ``many-files`` a first batch within 1/5 of ``pyarrow.dataset``'s, and
on every case rows/s >= 1.5x ``pyarrow.dataset``'s.

    python benchmarks/s3.py                  # 80,000 rows in 8 files + 1,000 small files
    python benchmarks/s3.py --smoke          # tiny (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from typing import Any

from . import _child
from .dataset import BATCH_SIZE, COLUMNS, generate
from .dataset_readers import arrow_batches, consume

READERS = ["hf3fs", "hf3fs-first-open", "pyarrow-dataset", "hf-datasets"]
CASES = ["tokens", "many-files"]
FIRST_BATCH_TARGET = 5.0  # many-files: pyarrow.dataset's first batch / ours
RATE_TARGET = 1.5  # rows/s over pyarrow.dataset's
# Credentials moto accepts (any pair); a real endpoint takes AWS_* from the environment.
MOTO_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# -- the child: one reader, one case --------------------------------------------


class Child:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.options: dict[str, str] = spec["storage_options"]
        self.url = f"s3://{spec['bucket']}/{spec['prefix']}/"

    def hf3fs_first_open(self):
        # Every timed pass opens the dataset as if for the first time.
        os.environ["HF3FS_FOOTER_CACHE"] = "off"
        return self.hf3fs()

    def hf3fs(self):
        from hf3fs.dataset import ParquetDataset

        def batches():
            ds = ParquetDataset(
                self.url,
                columns=COLUMNS,
                batch_size=BATCH_SIZE,
                format="numpy",
                rank=0,
                world_size=1,
                storage_options=self.options,
            )
            for b in ds:
                values, offsets = b["input_ids"]
                yield b["doc_id"], values, offsets, b["score"]

        return batches

    def pyarrow_dataset(self):
        import pyarrow.dataset as pads
        from pyarrow.fs import S3FileSystem

        endpoint = self.options["aws_endpoint"]
        scheme, _, host = endpoint.partition("://")
        fs = S3FileSystem(
            access_key=self.options.get("aws_access_key_id"),
            secret_key=self.options.get("aws_secret_access_key"),
            region=self.options.get("aws_region", "us-east-1"),
            endpoint_override=host,
            scheme=scheme,
        )

        def batches():
            dataset = pads.dataset(
                f"{self.spec['bucket']}/{self.spec['prefix']}", format="parquet", filesystem=fs
            )
            yield from arrow_batches(dataset.to_batches(columns=COLUMNS, batch_size=BATCH_SIZE))

        return batches

    def hf_datasets(self):
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import datasets
        from datasets import load_dataset

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        options = {
            "key": self.options.get("aws_access_key_id"),
            "secret": self.options.get("aws_secret_access_key"),
            "client_kwargs": {
                "endpoint_url": self.options["aws_endpoint"],
                "region_name": self.options.get("aws_region", "us-east-1"),
            },
        }

        def batches():
            stream = load_dataset(
                "parquet",
                data_files=f"{self.url}*.parquet",
                streaming=True,
                split="train",
                columns=COLUMNS,
                storage_options=options,
            )
            for table in stream.with_format("arrow").iter(batch_size=BATCH_SIZE):
                yield from arrow_batches(table.to_batches())

        return batches

    def timed(self, make: Any) -> tuple[float, float, tuple[int, int]]:
        start = time.perf_counter()
        batches = make()
        first = None
        rows = doc = 0

        def counted():
            nonlocal first
            for batch in batches:
                if first is None:
                    first = time.perf_counter() - start
                yield batch

        rows, doc = consume(counted())
        return first or 0.0, time.perf_counter() - start, (rows, doc)

    def run(self) -> dict[str, Any]:
        try:
            make = getattr(self, self.spec["reader"].replace("-", "_"))()
        except ImportError as e:
            return {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
        self.timed(make)  # untimed: imports, connections
        firsts, totals, sums = [], [], set()
        for _ in range(self.spec["repeat"]):
            first, total, result = self.timed(make)
            firsts.append(first)
            totals.append(total)
            sums.add(result)
        rows, checksum = sums.pop() if len(sums) == 1 else (-1, -1)
        return {
            "status": "ok",
            "first_batch": statistics.median(firsts),
            "seconds": statistics.median(totals),
            "rows": rows,
            "checksum": checksum,
        }


def run_child(spec: dict[str, Any], footer_cache: str) -> dict[str, Any]:
    env = dict(os.environ, HF3FS_FOOTER_CACHE=footer_cache)
    return _child.run("hf3fs.bench.s3", spec, env)


# -- the parent ---------------------------------------------------------------


def create_bucket(endpoint: str, bucket: str) -> None:
    """An unsigned PUT, which moto's server accepts."""
    request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT", data=b"")
    with urllib.request.urlopen(request, timeout=30):
        pass


def upload(directory: str, url: str, options: dict[str, str]) -> int:
    """Every file of ``directory`` to ``url`` (``s3://bucket/prefix/``); returns the count."""
    from hf3fs.fs import FileSystem

    fs, prefix = FileSystem.from_uri(url, storage_options=options)
    names = sorted(os.listdir(directory))
    for name in names:
        with (
            open(os.path.join(directory, name), "rb") as f,
            fs.open_output_stream(f"{prefix}/{name}") as out,
        ):
            out.write(f.read())
    return len(names)


def render(results: dict[str, dict[str, dict]], expected: dict[str, int]) -> list[str]:
    lines = [
        f"{'case':<11} {'reader':<16} {'first batch s':>13} {'rows/s':>12} {'vs pyarrow':>10}  "
        "checksum",
        "-" * 76,
    ]
    for case, by_reader in results.items():
        base = by_reader.get("pyarrow-dataset", {})
        base_rate = base["rows"] / base["seconds"] if base.get("status") == "ok" else None
        for reader, r in by_reader.items():
            if r.get("status") != "ok":
                lines.append(f"{case:<11} {reader:<16} {r.get('status')}: {r.get('error', '')}")
                continue
            rate = r["rows"] / r["seconds"]
            ratio = f"{rate / base_rate:.2f}x" if base_rate else "-"
            ok = "ok" if r["checksum"] == expected[case] else "WRONG"
            lines.append(
                f"{case:<11} {reader:<16} {r['first_batch']:>13.3f} {rate:>12,.0f} "
                f"{ratio:>10}  {ok}"
            )
    return lines


def verdicts(results: dict[str, dict[str, dict]]) -> list[str]:
    out = []
    for case, by_reader in results.items():
        for name in ("hf3fs", "hf3fs-first-open"):
            out.extend(_verdicts(case, name, by_reader))
    return out


def _verdicts(case: str, name: str, by_reader: dict[str, dict]) -> list[str]:
    out: list[str] = []
    ours, base = by_reader.get(name, {}), by_reader.get("pyarrow-dataset", {})
    if ours.get("status") == "ok" and base.get("status") == "ok":
        rate = (ours["rows"] / ours["seconds"]) / (base["rows"] / base["seconds"])
        met = "met" if rate >= RATE_TARGET else "NOT met"
        out.append(
            f"{case}, {name}: rows/s {rate:.2f}x pyarrow.dataset (target {RATE_TARGET}x): {met}"
        )
        if case == "many-files":
            speedup = base["first_batch"] / max(ours["first_batch"], 1e-9)
            met = "met" if speedup >= FIRST_BATCH_TARGET else "NOT met"
            out.append(
                f"{case}, {name}: first batch {speedup:.2f}x sooner than pyarrow.dataset "
                f"(target {FIRST_BATCH_TARGET}x): {met}"
            )
    return out


def main(argv: list[str] | None = None, *, results: dict | None = None) -> int:
    p = argparse.ArgumentParser(prog="hf3fs bench s3", description=__doc__.split("\n\n")[0])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help="an S3-compatible endpoint (default: start moto_server)")
    p.add_argument("--bucket", default="hf3fs-bench", help="bucket to upload to")
    p.add_argument("--rows", type=int, default=80_000, help="tokens case: rows (80,000)")
    p.add_argument("--files", type=int, default=8, help="tokens case: files (8)")
    p.add_argument("--small-files", type=int, default=1000, help="many-files case: files")
    p.add_argument("--small-rows", type=int, default=64, help="many-files case: rows a file")
    p.add_argument("--readers", default=",".join(READERS), help="comma list of readers")
    p.add_argument("--repeat", type=int, default=1, help="timed passes per reader (median)")
    p.add_argument("--smoke", action="store_true", help="tiny inputs, for CI")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    if args.child:
        return _child.serve(lambda spec: Child(spec).run())
    if args.smoke:
        args.rows, args.files, args.small_files, args.small_rows = 4_000, 2, 20, 32
    readers = [r for r in args.readers.split(",") if r]
    unknown = set(readers) - set(READERS)
    if unknown:
        p.error(f"--readers: unknown {', '.join(sorted(unknown))}; choose from {READERS}")
    with _store(args) as (endpoint, options):
        return _run(args, readers, endpoint, options, results)


class _store:
    """The endpoint and storage options for the run (a moto server of its own by default)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.proc: Any = None

    def __enter__(self) -> tuple[str, dict[str, str]]:
        from . import s3server

        endpoint = self.args.endpoint
        options = {"aws_region": os.environ.get("AWS_REGION", "us-east-1")}
        if endpoint is None:
            self.proc, endpoint = s3server.start_process()
            options.update(MOTO_KEYS)
            create_bucket(endpoint, self.args.bucket)
        options["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
        for key in ("aws_access_key_id", "aws_secret_access_key"):
            value = os.environ.get(key.upper())
            if value and key not in options:
                options[key] = value
        return endpoint, options

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            from . import s3server

            s3server.stop(self.proc)


def _run(
    args: argparse.Namespace,
    readers: list[str],
    endpoint: str,
    options: dict[str, str],
    results: dict | None,
) -> int:
    expected: dict[str, int] = {}
    shapes = {
        "tokens": (args.rows, args.files),
        "many-files": (args.small_rows * args.small_files, args.small_files),
    }
    with tempfile.TemporaryDirectory(prefix="hf3fs-bench-s3-") as tmp:
        for case, (rows, files) in shapes.items():
            local = os.path.join(tmp, case)
            os.makedirs(local)
            info = generate(local, rows, files, seed=0)
            expected[case] = info["checksum"]
            count = upload(local, f"s3://{args.bucket}/{case}/", options)
            print(
                f"uploaded {case}: {rows:,} rows in {count:,} files to {endpoint}", file=sys.stderr
            )
    table: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="hf3fs-bench-footers-") as footer_cache:
        for case in CASES:
            table[case] = {}
            for reader in readers:
                spec = {
                    "reader": reader,
                    "bucket": args.bucket,
                    "prefix": case,
                    "storage_options": options,
                    "repeat": args.repeat,
                }
                table[case][reader] = run_child(spec, footer_cache)
    if results is not None:
        results.update(table)
    if args.json:
        print(json.dumps({"results": table, "expected": expected}, indent=2))
    else:
        print("\n".join(render(table, expected)))
        for line in verdicts(table):
            print(line)
    wrong = any(
        r.get("status") == "ok" and r["checksum"] != expected[case]
        for case, by_reader in table.items()
        for r in by_reader.values()
    )
    failed = any(
        r.get("status") == "error" for by_reader in table.values() for r in by_reader.values()
    )
    return 1 if wrong else 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
