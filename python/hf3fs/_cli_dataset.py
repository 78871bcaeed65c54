"""``hf3fs dataset inspect`` and ``hf3fs bench``."""

from __future__ import annotations

import argparse
import json
from typing import Any

BENCHMARKS = ("io", "dataset", "coalesce", "s3", "pack")
# Benchmarks whose results are throughput per reader, which --plot draws.
PLOTTABLE = ("io", "dataset")


def inspect(args: argparse.Namespace) -> int:
    """Print a Parquet source's schema, files, row groups, rows and per-column sizes."""
    from ._cli_fs import parse_storage_options
    from .dataset import _ParquetDatasetImpl

    options = parse_storage_options(getattr(args, "storage_option", None))
    ds = _ParquetDatasetImpl(args.source, progress=args.progress, storage_options=options or None)
    info = ds.info()
    if args.json:
        info["schema"] = [{"name": f, "type": t} for f, t in _schema_fields(ds)]
        if args.tokens:
            info["tokens"] = _token_plan(args, options)
        print(json.dumps(info, indent=2))
        return 0
    files = info["files"]
    with_index = sum(f["page_index"] for f in files)
    print(f"source      {args.source}")
    print(
        f"files       {len(files)}  row groups {info['row_groups']}  rows {info['rows']:,}  "
        f"bytes {info['bytes']:,}"
    )
    print(f"page index  {with_index} of {len(files)} files")
    print()
    print("schema")
    for name, type_text in _schema_fields(ds):
        print(f"  {name}: {type_text}")
    print()
    header = f"{'column':<24} {'compressed':>14} {'uncompressed':>14} {'ratio':>6}  codecs"
    print(header)
    print("-" * len(header))
    for name, c in info["columns"].items():
        ratio = c["uncompressed_bytes"] / c["compressed_bytes"] if c["compressed_bytes"] else 0
        print(
            f"{name:<24} {c['compressed_bytes']:>14,} {c['uncompressed_bytes']:>14,} "
            f"{ratio:>5.1f}x  {', '.join(c['codecs'])}"
        )
    if args.tokens:
        _print_tokens(args, options)
    if args.files:
        print()
        width = max([len("file"), *(len(f["path"]) for f in files)])
        header = f"{'file':<{width}} {'row groups':>10} {'rows':>12} {'bytes':>14}  page index"
        print(header)
        print("-" * len(header))
        for f in files:
            print(
                f"{f['path']:<{width}} {f['row_groups']:>10} {f['rows']:>12,} "
                f"{f['bytes']:>14,}  {'yes' if f['page_index'] else 'no'}"
            )
    return 0


def _token_plan(args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """The packed plan of ``args.tokens``: tokens per file, sequences of ``--seq-len`` per rank."""
    from .dataset import Pack, _ParquetDatasetImpl

    pack = Pack(args.tokens, args.seq_len, 1, eos_token=args.eos_token)
    ds = _ParquetDatasetImpl(
        args.source,
        pack=pack,
        rank=0,
        world_size=args.world_size,
        storage_options=options or None,
    )
    plan = ds.info(num_workers=args.num_workers)["tokens"]
    plan["seq_len"] = args.seq_len
    plan["eos_token"] = args.eos_token
    plan["world_size"] = args.world_size
    plan["num_workers"] = args.num_workers
    return plan


def _print_tokens(args: argparse.Namespace, options: dict[str, Any]) -> None:
    plan = _token_plan(args, options)
    print()
    eos = "" if args.eos_token is None else f", an EOS {args.eos_token} after each document"
    print(f"tokens of {plan['column']!r}{eos}: {plan['tokens']:,}")
    width = max([len("file"), *(len(f["path"]) for f in plan["per_file"])])
    header = f"{'file':<{width}} {'rows':>12} {'tokens':>14} {'tokens/row':>10}  counted from"
    print(header)
    print("-" * len(header))
    for f in plan["per_file"]:
        per_row = f["tokens"] / f["rows"] if f["rows"] else 0
        print(
            f"{f['path']:<{width}} {f['rows']:>12,} {f['tokens']:>14,} {per_row:>10.1f}  "
            f"{', '.join(f['counted_from'])}"
        )
    workers = f" x {args.num_workers} workers" if args.num_workers else ""
    print(
        f"sequences of {args.seq_len} tokens per rank ({args.world_size} ranks{workers}): "
        f"{plan['sequences_per_rank']:,}; tokens left out per epoch: {plan['left_out']:,}"
    )


def _schema_fields(ds: Any) -> list[tuple[str, str]]:
    try:
        schema = ds.schema
    except ImportError:  # pyarrow missing: the names alone
        return [(name, "?") for name in ds.info()["columns"]]
    return [(f.name, str(f.type)) for f in schema]


def bench(args: argparse.Namespace) -> int:
    """Run one of hf3fs.bench's benchmarks with its own options; chart it with --plot."""
    import importlib

    if args.plot and args.benchmark not in PLOTTABLE:
        raise ValueError(
            f"bench {args.benchmark}: --plot draws {' and '.join(PLOTTABLE)} results only"
        )
    module = importlib.import_module(f"hf3fs.bench.{args.benchmark}")
    results: dict[str, Any] = {}
    status = int(module.main(args.options, results=results) or 0)
    if args.plot:
        if not results:
            raise ValueError(f"bench {args.benchmark}: no results to plot")
        from .plot import bench_results

        bench_results(results, path=args.plot)
        print(f"chart written to {args.plot}")
    return status


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``dataset`` and ``bench`` on the ``hf3fs`` parser."""
    dataset = sub.add_parser(
        "dataset",
        parents=[common],
        help="work with Parquet datasets",
        description=(
            "Work with Parquet datasets (a file, a directory, a glob, hf3fs:// or s3:// URL)."
        ),
    )
    dsub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="COMMAND")
    p = dsub.add_parser(
        "inspect",
        parents=[common],
        help="schema, files, row groups, rows, bytes and codecs per column",
        description=(
            "Read every footer of SOURCE (in parallel) and print its schema, files, row "
            "groups and rows, compressed and uncompressed bytes and codecs per column, and "
            "whether the files have page indexes."
        ),
    )
    p.add_argument("source", metavar="SOURCE", help="file, directory, glob, hf3fs:// or s3:// URL")
    p.add_argument("--files", action="store_true", help="also list every file")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.add_argument(
        "--tokens",
        metavar="COLUMN",
        help="count the tokens of this list-of-integers column per file (from the footers) "
        "and the packed sequences each rank gets",
    )
    p.add_argument(
        "--seq-len", type=int, default=4096, help="tokens per packed sequence (default 4096)"
    )
    p.add_argument("--eos-token", type=int, help="a token appended to every document")
    p.add_argument("--world-size", type=int, default=1, help="ranks to plan for (default 1)")
    p.add_argument(
        "--num-workers", type=int, default=0, help="DataLoader workers per rank (default 0)"
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show progress while reading footers (default: on a terminal)",
    )
    p.set_defaults(func=inspect)

    p = sub.add_parser(
        "bench",
        parents=[common],
        help="run a benchmark: io, dataset, coalesce, s3 or pack",
        description=(
            "Run a benchmark and print its table. Options after the benchmark's name are "
            "its own: `hf3fs bench dataset --help` lists them (--json writes JSON for "
            "machines). --plot PNG, given before the name, also draws throughput bars."
        ),
    )
    p.add_argument("--plot", metavar="PNG", help="draw throughput bars per reader to this file")
    p.add_argument("benchmark", choices=BENCHMARKS)
    p.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's own options")
    p.set_defaults(func=bench)
