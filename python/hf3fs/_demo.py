"""``hf3fs demo``: the product working end to end on a mount, with what it measured.

The default demo is the training-data path: a token dataset on the mount,
streamed by 2 simulated ranks x 2 DataLoader workers with a shuffle, checked
for exactly-once coverage. ``--io`` runs the client demo instead: files
written and read back with batched ``preadv`` into a shared-memory iovec.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from ._default import setupDefaultClient
from ._dirs import walk
from ._hf3fs import iovec

# Beside the dataset demo's hf3fs-demo/tokens, which this demo must not remove.
DEMO_DIR = "/hf3fs-demo/io"
READ_SIZE = 4096
SEQ_CHUNK = 1 << 20


def _rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / max(seconds, 1e-9) / 1e6:,.0f} MB/s"


def run(args: argparse.Namespace) -> int:
    """``hf3fs demo``: the dataset demo, or the IO demo with ``--io``."""
    if args.io:
        return run_io(args)
    from ._demo_dataset import run_dataset

    return run_dataset(args)


def run_io(args: argparse.Namespace) -> int:
    """Write files, read them back with batched ``preadv``, verify, report."""
    if args.files <= 0 or args.file_mib <= 0 or args.reads <= 0:
        raise ValueError("--files, --file-mib and --reads must be positive")
    client = setupDefaultClient(args.mount, args.token)
    print(f"mount {client.mount_name!r} at {client.mount_root} (role {client.role})")

    try:
        client.remove(DEMO_DIR, recursive=True)
    except FileNotFoundError:
        pass
    client.mkdir(DEMO_DIR, recursive=True)

    size = args.file_mib << 20
    rng = random.Random(42)
    contents = [rng.randbytes(size) for _ in range(args.files)]
    fds: list[int] = []
    t0 = time.perf_counter()
    for i, data in enumerate(contents):
        fd = client.creat(f"{DEMO_DIR}/part-{i:03d}.bin", 0o644)
        view = memoryview(data)
        written = 0
        while written < size:
            written += client.write(fd, view[written:], flush=written + SEQ_CHUNK >= size)
        client.close(fd)
    t_write = time.perf_counter() - t0
    total = size * args.files
    print(
        f"wrote   {args.files} files x {args.file_mib} MiB = {total >> 20} MiB"
        f"  in {t_write:.2f}s  ({_rate(total, t_write)}, fdatasync on each)"
    )

    for i in range(args.files):
        fds.append(client.open(f"{DEMO_DIR}/part-{i:03d}.bin", os.O_RDONLY))

    # One batched call: random 4 KiB reads across every file into one iovec.
    iov = client.iovalloc(args.reads * READ_SIZE)
    picks = [
        (rng.randrange(args.files), rng.randrange(size // READ_SIZE)) for _ in range(args.reads)
    ]
    batch = [
        (iovec(iov, j * READ_SIZE, READ_SIZE), fds[f], block * READ_SIZE)
        for j, (f, block) in enumerate(picks)
    ]
    t0 = time.perf_counter()
    results = client.preadv(batch)
    t_rand = time.perf_counter() - t0
    mem = memoryview(iov)
    bad = sum(
        1
        for j, (f, block) in enumerate(picks)
        if mem[j * READ_SIZE : (j + 1) * READ_SIZE]
        != contents[f][block * READ_SIZE : (block + 1) * READ_SIZE]
    )
    assert all(r == READ_SIZE for r in results)
    print(
        f"preadv  {args.reads} random 4 KiB reads in ONE call  in {t_rand * 1e3:.1f} ms"
        f"  ({args.reads / t_rand:,.0f} IOPS), {args.reads - bad}/{args.reads} verified"
    )

    # Sequential: every file in 1 MiB entries, one call per file.
    seq = client.iovalloc(size)
    t_seq = 0.0
    seq_bad = 0
    for i, fd in enumerate(fds):
        entries = [(iovec(seq, off, SEQ_CHUNK), fd, off) for off in range(0, size, SEQ_CHUNK)]
        t0 = time.perf_counter()
        client.preadv(entries)
        t_seq += time.perf_counter() - t0
        seq_bad += memoryview(seq) != contents[i]
    print(
        f"preadv  {total >> 20} MiB sequential in 1 MiB entries  in {t_seq:.2f}s"
        f"  ({_rate(total, t_seq)}), {args.files - seq_bad}/{args.files} files verified"
    )
    del mem
    client.iovfree(iov)
    client.iovfree(seq)
    for fd in fds:
        client.close(fd)

    listed = sum(len(files) for _, _, files in walk(DEMO_DIR, client=client))
    st = client.stat(f"{DEMO_DIR}/part-000.bin")
    print(
        f"walk    {DEMO_DIR}: {listed} files; stat part-000.bin: {st.st_size} bytes, "
        f"mode {oct(st.st_mode & 0o777)}; realpath -> {client.realpath(DEMO_DIR, absolute=True)}"
    )
    ok = bad == 0 and seq_bad == 0
    print("result  OK: every byte read back matches what was written" if ok else "result  MISMATCH")
    return 0 if ok else 1
