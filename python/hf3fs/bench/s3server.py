"""An S3-compatible server on 127.0.0.1 for tests and benchmarks: moto's
server mode (``pip install "moto[server]"``).

Standard library only: ``tests/s3_server.py`` loads this file from the
source tree before any wheel is built. ``python s3server.py -- COMMAND...``
starts a server on a free port, runs COMMAND with ``HF3FS_TEST_S3_ENDPOINT``
set to its URL, stops the server and exits with COMMAND's status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ENDPOINT_VAR = "HF3FS_TEST_S3_ENDPOINT"

# How long a cold moto server may take to answer its first request (it
# imports every AWS service model on start; ~3 s on 2 cores).
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_server() -> str:
    here = Path(sys.executable).parent / "moto_server"
    if here.exists():
        return str(here)
    found = shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]'")
    return found


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {START_TIMEOUT_S:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start_process`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_process(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server (on ``port``, or a free one); returns it and its URL."""
    # Another process may take a free port before the server binds it.
    for _ in range(3):
        chosen = port or _free_port()
        url = f"http://127.0.0.1:{chosen}"
        proc = subprocess.Popen(
            [_moto_server(), "-H", "127.0.0.1", "-p", str(chosen)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_up(url, proc)
            return proc, url
        except RuntimeError:
            stop(proc)
            if port is not None:
                raise
    raise RuntimeError("could not start moto_server on a free port")


@contextlib.contextmanager
def running() -> Iterator[str]:
    """A server for the duration of the block; yields its URL."""
    proc, url = start_process()
    try:
        yield url
    finally:
        stop(proc)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: s3_server.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with running() as url:
        env = dict(os.environ, **{ENDPOINT_VAR: url})
        return subprocess.call(argv[1:], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
