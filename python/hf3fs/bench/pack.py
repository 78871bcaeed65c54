"""Packed pretraining batches: ``hf3fs.dataset.Pack`` vs a numpy packer and HF ``group_texts``.

Generates a Parquet corpus of tokenised documents (zstd, ``--files`` files,
row groups of 8,000 rows): ``id`` int64 and ``input_ids`` list<int32>, each
document 64-4,096 token ids long (a Pareto length, so most are short and a
few run to the cap; ~480 tokens on average), the ids Zipf-like below
50,256. Each reader then packs the documents, in file order, each followed
by the EOS token 50,256 (GPT-2's ``<|endoftext|>``), into batches of
``[8, 4096]`` tokens and the benchmark counts batches per second:

* ``hf3fs``: ``ParquetDataset(dir, pack=Pack("input_ids", seq_len=4096,
  sequences_per_batch=8, eos_token=50256), format="numpy")``: ``input_ids``,
  ``position_ids`` (restarting at every document and sequence start),
  ``cu_seqlens`` and ``max_seqlen``, packed in Rust;
* ``numpy``: ``ParquetDataset(dir, columns=["input_ids"], format="numpy")``,
  whose ``(values, offsets)`` batches a Python/numpy packer turns into the
  same four fields (``np.insert`` the EOS tokens, a carry-over buffer, one
  ``[8, 4096]`` block at a time, its position ids and ``cu_seqlens`` from the
  document starts), as a user would write it on top of any Arrow reader;
* ``hf-datasets``: ``load_dataset("parquet", streaming=True)`` and
  ``.map(group_texts, batched=True)`` as Hugging Face's ``run_clm.py``
  example does (each map call concatenates its 1,000 documents, EOS
  appended to each, and cuts 4,096-token blocks, dropping the remainder),
  then ``.iter(batch_size=8, drop_last_batch=True)``, each batch's lists
  made a numpy array. It gives ``input_ids`` only: no position ids or
  ``cu_seqlens`` (a model trained on it attends across documents), and no
  ``labels`` copy (``run_clm`` adds one). ``.with_format("numpy")``
  would convert the mapped blocks token by token (~40x slower).

The checksums are exact: every reader sums the token ids of every batch it
yields (and, where there are any, the position ids, the document pieces
``cu_seqlens`` describes and the longest piece), and the parent compares
them with what the definition gives, computed from the corpus it wrote:
hf3fs and the numpy packer yield the same ``total // (8 x 4096)`` batches
from the start of the token stream; HF's stream loses each map call's
remainder, so it yields fewer batches, checked against its own definition.

Every reader runs in a subprocess of its own (peak RSS is its alone), reads
once untimed, then ``--repeat`` timed runs; the median is shown. The page
cache is warm. Target: hf3fs >= 3x the numpy packer's batches/s. Exit
status 1 when a checksum differs, 2 when a reader fails.

    python benchmarks/pack.py                   # 96,000 documents in 4 files (~46M tokens)
    python benchmarks/pack.py --repeat 5 --dir /data/bench-pack
    python benchmarks/pack.py --smoke           # tiny and quick (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import chain

import numpy as np

from hf3fs import _progress
from hf3fs.bench import _child
from hf3fs.bench.pagecache import warm

COLUMN = "input_ids"
SEQ_LEN = 4096
SEQUENCES_PER_BATCH = 8
BATCH_TOKENS = SEQ_LEN * SEQUENCES_PER_BATCH
EOS = 50_256  # GPT-2's <|endoftext|>
VOCAB = 50_256  # token ids below EOS
MIN_LEN, MAX_LEN, LENGTH_EXPONENT = 64, 4096, 0.8
ROW_GROUP = 8000
HF_MAP_BATCH = 1000  # datasets.IterableDataset.map's default batch_size
READERS = ["hf3fs", "numpy", "hf-datasets"]
LABELS = {
    "hf3fs": "hf3fs Pack",
    "numpy": "numpy packer",
    "hf-datasets": "HF datasets group_texts",
}
# Which definition each reader's checksum follows (see expected()).
STREAM_OF = {"hf3fs": "stream", "numpy": "stream", "hf-datasets": "hf"}
META_KEY = b"hf3fs-pack-benchmark"
TARGET = 3.0  # hf3fs batches/s, x the numpy packer's
MiB = 1 << 20


# -- the corpus ---------------------------------------------------------------


def doc_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` document lengths in [MIN_LEN, MAX_LEN]: a Pareto tail capped at MAX_LEN."""
    u = rng.random(n)
    x = MIN_LEN * np.power(1 - u, -1 / LENGTH_EXPONENT)
    return np.minimum(x, MAX_LEN).astype(np.int64)


def token_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` Zipf-like token ids in [0, VOCAB): low ids dominate."""
    return (np.minimum(rng.zipf(1.3, n), VOCAB) - 1).astype(np.int32)


class Corpus:
    """The documents' lengths and tokens, and the sums the readers must give."""

    def __init__(self, lengths: np.ndarray, tokens: np.ndarray) -> None:
        self.lengths = lengths
        self.tokens = tokens
        self.offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        # Per document: its token sum; the stream (documents + EOS) ends.
        sums = np.add.reduceat(tokens, self.offsets[:-1], dtype=np.int64)
        sums = np.where(lengths > 0, sums, 0)  # reduceat gives an empty slice's first element
        self.sum_before = np.concatenate([[0], np.cumsum(sums, dtype=np.int64)])
        self.ends = np.cumsum(lengths + 1)  # EOS after every document

    def stream_start(self, doc: int) -> int:
        return int(self.ends[doc - 1]) if doc else 0

    def prefix_sum(self, doc: int, n: int) -> int:
        """The sum of the first ``n`` tokens of the stream from document ``doc`` on."""
        end = self.stream_start(doc) + n
        last = int(np.searchsorted(self.ends, end, side="right"))  # documents doc..last-1 whole
        total = int(self.sum_before[last] - self.sum_before[doc]) + EOS * (last - doc)
        rest = end - self.stream_start(last)  # tokens of document `last` (< its length + 1)
        if rest:
            start = int(self.offsets[last])
            total += int(self.tokens[start : start + rest].sum(dtype=np.int64))
        return total

    def expected_stream(self) -> dict:
        """hf3fs and the numpy packer: the stream's first ``total // BATCH_TOKENS`` batches."""
        total = int(self.ends[-1])
        batches = total // BATCH_TOKENS
        used = batches * BATCH_TOKENS
        # Pieces end at documents' ends and at sequence ends (batch ends among them).
        cuts = np.union1d(self.ends[self.ends < used], np.arange(SEQ_LEN, used + 1, SEQ_LEN))
        pieces = np.diff(cuts, prepend=0)
        return {
            "batches": batches,
            "tokens": self.prefix_sum(0, used),
            "positions": int((pieces * (pieces - 1) // 2).sum()),
            "pieces": len(pieces),
            "max_seqlen": int(pieces.max()) if len(pieces) else 0,
        }

    def expected_hf(self) -> dict:
        """HF ``group_texts``: each map call's 1,000 documents (+ EOS) cut into SEQ_LEN-token
        blocks, its remainder dropped; blocks grouped SEQUENCES_PER_BATCH at a time."""
        kept = []  # (first document, blocks) per map call
        for lo in range(0, len(self.lengths), HF_MAP_BATCH):
            hi = min(lo + HF_MAP_BATCH, len(self.lengths))
            kept.append((lo, (int(self.ends[hi - 1]) - self.stream_start(lo)) // SEQ_LEN))
        batches = sum(b for _, b in kept) // SEQUENCES_PER_BATCH
        left = batches * SEQUENCES_PER_BATCH
        tokens = 0
        for lo, blocks in kept:
            take = min(blocks, left)
            tokens += self.prefix_sum(lo, take * SEQ_LEN)
            left -= take
        return {"batches": batches, "tokens": tokens}


def generate(directory: str, rows: int, files: int, seed: int) -> dict:
    """Write the corpus; return its description, with every definition's expected sums."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    lengths = doc_lengths(rng, rows)
    corpus = Corpus(lengths, token_ids(rng, int(lengths.sum())))
    info = {
        "rows": rows,
        "files": files,
        "seed": seed,
        "tokens": int(lengths.sum()),
        "stream_tokens": int(corpus.ends[-1]),
        "expected": {"stream": corpus.expected_stream(), "hf": corpus.expected_hf()},
    }
    per_file = [rows // files + (i < rows % files) for i in range(files)]
    first = 0
    for path, n in zip(_child.part_paths(directory, files), per_file, strict=True):
        writer = None
        for start in range(first, first + n, ROW_GROUP):
            stop = min(start + ROW_GROUP, first + n)
            offsets = corpus.offsets[start : stop + 1]
            ids = corpus.tokens[offsets[0] : offsets[-1]]
            table = pa.table(
                {
                    "id": np.arange(start, stop, dtype=np.int64),
                    COLUMN: pa.ListArray.from_arrays(
                        pa.array((offsets - offsets[0]).astype(np.int32)), pa.array(ids)
                    ),
                }
            )
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=ROW_GROUP)
        first += n
        # The description goes into every footer, so --dir can reuse the files.
        writer.add_key_value_metadata({META_KEY.decode(): json.dumps(info)})
        writer.close()
    return info


# -- the readers (each in a child process) --------------------------------------

Batch = tuple[np.ndarray, np.ndarray | None, np.ndarray | None, int | None]


def numpy_packer(batches, seq_len: int, spb: int, eos: int) -> Iterator[dict]:
    """Pack ``(values, offsets)`` batches of documents into ``[spb, seq_len]`` blocks.

    What a user would write on top of an Arrow reader: each document gets an
    EOS token, tokens carry over from one input batch to the next, and every
    block gets ``position_ids`` (restarting at each document's and each
    sequence's start) and FlashAttention's ``cu_seqlens``/``max_seqlen``.
    """
    block = seq_len * spb
    arange = np.arange(block)
    sequence_starts = np.arange(0, block, seq_len)
    carry = np.empty(0, np.int32)
    carry_starts = np.empty(0, np.int64)  # where documents start in `carry`
    for values, offsets in batches:
        rel = (offsets - offsets[0]).astype(np.int64)
        docs = values[offsets[0] : offsets[-1]]
        stream = np.insert(docs, rel[1:], eos)  # EOS after every document
        starts = rel[:-1] + np.arange(len(rel) - 1)  # each document's start in `stream`
        buf = np.concatenate([carry, stream])
        buf_starts = np.concatenate([carry_starts, starts + len(carry)])
        full = len(buf) // block
        bounds = np.searchsorted(buf_starts, np.arange(full + 1) * block)
        for b in range(full):
            lo = b * block
            doc_starts = buf_starts[bounds[b] : bounds[b + 1]] - lo
            cuts = np.union1d(doc_starts, sequence_starts)  # every piece's start
            pieces = np.diff(cuts, append=block)
            yield {
                "input_ids": buf[lo : lo + block].reshape(spb, seq_len),
                "position_ids": (arange - np.repeat(cuts, pieces)).reshape(spb, seq_len),
                "cu_seqlens": np.append(cuts, block).astype(np.int32),
                "max_seqlen": int(pieces.max()),
            }
        carry = buf[full * block :].copy()
        carry_starts = buf_starts[bounds[-1] :] - full * block


class Child:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.dir: str = spec["dir"]
        self.paths: list[str] = spec["paths"]

    # Each returns a function that opens the reader and yields packed batches.
    def hf3fs(self):
        from hf3fs.dataset import Pack, ParquetDataset

        pack = Pack(COLUMN, seq_len=SEQ_LEN, sequences_per_batch=SEQUENCES_PER_BATCH, eos_token=EOS)

        def batches():
            # One reader reading every token, whatever $RANK/$WORLD_SIZE say.
            ds = ParquetDataset(self.dir, pack=pack, format="numpy", rank=0, world_size=1)
            for b in ds:
                yield b["input_ids"], b["position_ids"], b["cu_seqlens"], b["max_seqlen"]

        return batches

    def numpy(self):
        from hf3fs.dataset import ParquetDataset

        def batches():
            ds = ParquetDataset(self.dir, columns=[COLUMN], format="numpy", rank=0, world_size=1)
            rows = (b[COLUMN] for b in ds)
            for b in numpy_packer(rows, SEQ_LEN, SEQUENCES_PER_BATCH, EOS):
                yield b["input_ids"], b["position_ids"], b["cu_seqlens"], b["max_seqlen"]

        return batches

    def hf_datasets(self):
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import datasets
        from datasets import load_dataset

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
        block_size = SEQ_LEN

        def group_texts(examples):
            # run_clm.py's group_texts, with each document's EOS (its tokenizer step adds it).
            concatenated = {
                k: list(chain.from_iterable(doc + [EOS] for doc in examples[k])) for k in examples
            }
            total_length = len(concatenated[COLUMN]) // block_size * block_size
            return {
                k: [t[i : i + block_size] for i in range(0, total_length, block_size)]
                for k, t in concatenated.items()
            }

        def batches():
            stream = load_dataset(
                "parquet", data_files=self.paths, streaming=True, split="train", columns=[COLUMN]
            )
            blocks = stream.map(group_texts, batched=True)
            for b in blocks.iter(batch_size=SEQUENCES_PER_BATCH, drop_last_batch=True):
                yield np.asarray(b[COLUMN], dtype=np.int32), None, None, None

        return batches

    def run(self) -> dict:
        from hf3fs.bench.dataset_readers import peak_rss_mib, rss_now

        try:
            make = getattr(self, self.spec["reader"].replace("-", "_"))()
        except ImportError as e:
            return {"status": "unavailable", "error": f"{type(e).__name__}: {e}"}
        base_rss = rss_now()
        consume(make())  # untimed: lazy imports, the page cache
        seconds, sums = [], []
        for _ in range(self.spec["repeat"]):
            start = time.perf_counter()
            result = consume(make())
            seconds.append(time.perf_counter() - start)
            sums.append(result)
        same = all(s == sums[0] for s in sums)
        return {
            "status": "ok",
            "seconds": statistics.median(seconds),
            "all_seconds": seconds,
            "sums": sums[0] if same else {"batches": -1, "tokens": -1},
            "peak_rss_mib": peak_rss_mib(),
            "base_rss_mib": base_rss,
        }


def consume(batches: Iterator[Batch]) -> dict:
    """Sum what the batches hold: batches, token ids, position ids, pieces, longest piece."""
    n = tokens = positions = pieces = longest = 0
    packed = None
    for ids, pos, cu, max_seqlen in batches:
        if ids.shape != (SEQUENCES_PER_BATCH, SEQ_LEN):
            raise SystemExit(f"batch {n}: input_ids of shape {ids.shape}")
        n += 1
        tokens += int(ids.sum(dtype=np.int64))
        packed = pos is not None
        if packed:
            if pos.shape != ids.shape or cu[0] != 0 or cu[-1] != BATCH_TOKENS:
                raise SystemExit(f"batch {n}: position_ids {pos.shape}, cu_seqlens {cu[[0, -1]]}")
            positions += int(pos.sum())
            pieces += len(cu) - 1
            longest = max(longest, max_seqlen)
    out = {"batches": n, "tokens": tokens}
    if packed:
        out.update(positions=positions, pieces=pieces, max_seqlen=longest)
    return out


# -- the parent -----------------------------------------------------------------


def run_child(spec: dict) -> dict:
    env = dict(os.environ)
    env.setdefault("HF3FS_FOOTER_CACHE", "off")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return _child.run("hf3fs.bench.pack", spec, env)


def met(ok: bool, detail: str) -> str:
    return f"{'met' if ok else 'NOT met'} ({detail})"


def rate(r: dict | None) -> float | None:
    return r["batches_per_s"] if r and r.get("status") == "ok" else None


def render(results: dict[str, dict], repeat: int) -> list[str]:
    out = [
        f"[{SEQUENCES_PER_BATCH}, {SEQ_LEN}] batches into numpy, page cache warm; "
        f"median of {repeat} run(s)"
    ]
    header = (
        f"{'reader':<24} {'batches':>7} {'batches/s':>10} {'Mtokens/s':>10} {'vs hf3fs':>8} "
        f"{'peak RSS MiB':>12} {'base MiB':>8} {'checksum':>8}"
    )
    out += [header, "-" * len(header)]
    hf = rate(results.get("hf3fs"))
    for reader, r in results.items():
        label = LABELS[reader]
        if r["status"] != "ok":
            out.append(f"{label:<24} {r['status']}: {r['error']}")
            continue
        vs = f"{r['batches_per_s'] / hf:.2f}x" if hf else "-"
        out.append(
            f"{label:<24} {r['sums']['batches']:>7,} {r['batches_per_s']:>10,.1f} "
            f"{r['tokens_per_s'] / 1e6:>10,.1f} {vs:>8} {r['peak_rss_mib']:>12.0f} "
            f"{r['base_rss_mib']:>8.0f} {'OK' if r['checksum_ok'] else 'MISMATCH':>8}"
        )
    legend = {
        "hf3fs": ["hf3fs Pack: input_ids, position_ids, cu_seqlens, max_seqlen, packed in Rust"],
        "numpy": ["numpy packer: the same four fields from ParquetDataset's (values, offsets)"],
        "hf-datasets": [
            "HF datasets group_texts: input_ids only, no position_ids or cu_seqlens; each map "
            "call's remainder",
            f"  (< {SEQ_LEN} tokens per {HF_MAP_BATCH:,} documents) dropped, so fewer batches, "
            "checked against that definition",
        ],
    }
    out.append("")
    for reader in results:
        out += legend[reader]
    return out


def main(argv: list[str] | None = None, *, results: dict | None = None) -> int:
    """Run the benchmark; ``results``, when given, receives what ``--json`` writes."""
    p = argparse.ArgumentParser(
        prog="hf3fs bench pack",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--rows", type=int, default=None, help="documents in all (default 96,000)")
    p.add_argument("--files", type=int, default=None, help="Parquet files (default 4)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs; the median (default 3)")
    p.add_argument(
        "--readers", default=",".join(READERS), help="comma list of " + ",".join(READERS)
    )
    p.add_argument("--dir", help="generate (or reuse) the corpus here and keep it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--smoke", action="store_true", help="tiny corpus, one run (CI)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child.serve(lambda spec: Child(spec).run())
    defaults = {"rows": 4000, "files": 2, "repeat": 1} if args.smoke else {}
    defaults = {"rows": 96_000, "files": 4, "repeat": 3} | defaults
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    bad = [r for r in readers if r not in READERS]
    if bad:
        p.error(f"unknown readers: {', '.join(bad)} (choose from {', '.join(READERS)})")
    if args.rows < args.files or args.files < 1 or args.repeat < 1:
        p.error("need --files >= 1, --rows >= --files and --repeat >= 1")
    tmp = None
    directory = args.dir
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="hf3fs-pack-bench-")
        directory = tmp.name
    try:
        return bench(args, os.path.abspath(directory), readers, sink=results)
    finally:
        if tmp is not None:
            tmp.cleanup()


def bench(args, directory: str, readers: list[str], sink: dict | None = None) -> int:
    os.makedirs(directory, exist_ok=True)
    start = time.perf_counter()
    info = _child.written_corpus(directory, args.rows, args.files, args.seed, META_KEY)
    if info is None:
        _child.clear_written(directory, META_KEY)
        info = generate(directory, args.rows, args.files, args.seed)
        made = f"generated in {time.perf_counter() - start:.1f} s"
    else:
        made = "reused"
    paths = _child.part_paths(directory, args.files)
    disk = sum(os.path.getsize(p) for p in paths)
    expected = info["expected"]
    print(
        f"corpus {directory}: {args.rows:,} documents, {info['tokens']:,} tokens "
        f"(+{args.rows:,} EOS) in {args.files} files, {disk / 1e6:.1f} MB ({made}); "
        f"{expected['stream']['batches']:,} full batches"
    )
    print(f"{os.cpu_count()} CPUs; one process per reader")
    print()
    for path in paths:
        warm(path)

    results: dict[str, dict] = {}
    failed = mismatch = False
    bar = _progress.Bar(total=len(readers), desc="pack", unit="reader", leave=False)
    for reader in readers:
        bar.set_postfix_str(reader)
        spec = {"reader": reader, "dir": directory, "paths": paths, "repeat": args.repeat}
        r = run_child(spec)
        if r["status"] == "ok":
            want = expected[STREAM_OF[reader]]
            r["expected"] = want
            r["checksum_ok"] = r["sums"] == want
            r["batches_per_s"] = r["sums"]["batches"] / r["seconds"]
            r["tokens_per_s"] = r["batches_per_s"] * BATCH_TOKENS
            mismatch |= not r["checksum_ok"]
        else:
            failed |= r["status"] == "error"
        results[reader] = r
        bar.update()
    bar.close()
    print("\n".join(render(results, args.repeat)))
    print()

    hf, numpy_rate = rate(results.get("hf3fs")), rate(results.get("numpy"))
    what = f"hf3fs >= {TARGET:g}x the numpy packer"
    if hf and numpy_rate:
        verdict = met(hf / numpy_rate >= TARGET, f"{hf / numpy_rate:.2f}x")
    else:
        verdict = "n/a"
    print(f"{what}: {verdict}")
    for reader, r in results.items():
        if r["status"] == "ok" and not r["checksum_ok"]:
            print(f"MISMATCH: {reader} gave {r['sums']}; expected {r['expected']}")
    data = {
        "rows": args.rows,
        "files": args.files,
        "tokens": info["tokens"],
        "disk_bytes": disk,
        "seq_len": SEQ_LEN,
        "sequences_per_batch": SEQUENCES_PER_BATCH,
        "eos_token": EOS,
        "repeat": args.repeat,
        "expected": expected,
        "readers": results,
        "targets": {what: verdict},
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
