"""The hand-written stub python/hf3fs/_hf3fs.pyi matches the native module (mypy's stubtest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mypy.stubtest  # noqa: F401 - a test dependency: without it these tests fail, not skip

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "python" / "hf3fs"
ALLOWLIST = REPO / "tests" / "stubtest-allowlist.txt"


def stubtest(stubs: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Check the stubs of the ``hf3fs`` package under ``stubs`` against the installed module.

    mypy reads the stub from MYPYPATH (ahead of site-packages); the runtime is the
    installed ``hf3fs._hf3fs``, imported from ``cwd`` (which holds no ``hf3fs``).
    """
    env = {k: v for k, v in os.environ.items() if k != "MYPYPATH"}
    env["MYPYPATH"] = str(stubs)
    return subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "hf3fs._hf3fs", "--allowlist", str(ALLOWLIST)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stub_matches_module(tmp_path: Path) -> None:
    result = stubtest(PACKAGE.parent, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stubtest_catches_a_renamed_parameter(tmp_path: Path) -> None:
    # A copy of the package whose stub names Client's token parameter `password`.
    stubs = tmp_path / "stubs"
    shutil.copytree(PACKAGE, stubs / "hf3fs", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    stub = stubs / "hf3fs" / "_hf3fs.pyi"
    text = stub.read_text()
    token = "        mount_name: str,\n        token: str,\n"
    assert text.count(token) == 1, "Client.__new__'s parameters moved: update this test"
    stub.write_text(text.replace(token, "        mount_name: str,\n        password: str,\n"))

    result = stubtest(stubs, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "hf3fs._hf3fs.Client.__new__ is inconsistent" in output, output
    assert '"password"' in output, output
    # The error points into the copy: stubtest read the stub under MYPYPATH.
    assert str(stub) in output, output
