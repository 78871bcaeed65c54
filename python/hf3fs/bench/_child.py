"""One reader per subprocess, for the benchmarks: the parent sends a JSON spec on stdin
(never the command line, where credentials would show in ``ps``), the child prints one JSON
result line and exits without interpreter teardown."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def run(module: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``python -m <module> --child`` with ``spec``; its result, or an error record."""
    env = dict(env)
    # HF datasets imports torch (~600 MiB RSS) when it is installed, to subclass
    # torch's IterableDataset; the arrow format needs none of it.
    for framework in ("USE_TORCH", "USE_TF", "USE_JAX"):
        env.setdefault(framework, "0")
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": "error", "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def serve(work: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """The child's side: read the spec, print ``work(spec)`` as one JSON line, exit."""
    result = work(json.loads(sys.stdin.read()))
    print(json.dumps(result), flush=True)
    sys.stderr.flush()
    # Skip interpreter teardown: pyarrow's dataset scanner threads (used by HF datasets)
    # can abort the process at exit, apache/arrow#45214 -- after the work is done.
    os._exit(0)


def clear_written(directory: str, meta_key: bytes) -> None:
    """Remove the Parquet files an earlier run wrote (their footers hold ``meta_key``);
    refuse to mix with anyone else's (the directory readers would read them too)."""
    import pyarrow.parquet as pq

    for path in sorted(glob.glob(os.path.join(directory, "*.parquet"))):
        try:
            ours = meta_key in (pq.read_metadata(path).metadata or {})
        except Exception:
            ours = False
        if not ours:
            raise SystemExit(f"{directory} holds {os.path.basename(path)}, not written here")
        os.remove(path)


def part_paths(directory: str, files: int) -> list[str]:
    """The files of a generated corpus."""
    return [os.path.join(directory, f"part-{i:05d}-of-{files:05d}.parquet") for i in range(files)]


def written_corpus(
    directory: str,
    rows: int,
    files: int,
    seed: int,
    meta_key: bytes,
    *,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The stored description (under ``meta_key`` in the first file's footer) of a corpus
    generated earlier with these parameters, if any; every ``extra`` field must match too
    (a description without the field does not)."""
    import pyarrow.parquet as pq

    paths = part_paths(directory, files)
    if not all(os.path.exists(p) for p in paths):
        return None
    try:
        meta = pq.read_metadata(paths[0]).metadata or {}
        info = json.loads(meta.get(meta_key, b"{}"))
    except Exception:
        return None
    if (info.get("rows"), info.get("files"), info.get("seed")) != (rows, files, seed):
        return None
    if any(info.get(key) != value for key, value in (extra or {}).items()):
        return None
    return info
