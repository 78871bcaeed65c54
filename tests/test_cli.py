"""The ``hf3fs`` command: demo, file commands, ``dataset inspect`` and ``bench``.

Most calls run in-process through ``hf3fs.cli.main`` (fast); a few run ``python -m hf3fs``
as a real process to check exit codes, that errors are one line on stderr without a
traceback, that ``--debug`` shows the traceback, and that ``cat`` writes exact bytes.
Behaviour only: no timings are asserted.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_helpers import TWO_FILES, subprocess_env, write_two_files

import hf3fs
from hf3fs import cli

pytestmark = pytest.mark.usefixtures("no_dist_env")

MiB = 1 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEMO = ["demo", "--rows", "4000", "--files", "2", "--batch-size", "256"]
COMMANDS = ["demo", "ls", "stat", "cat", "cp", "mkdir", "rm", "du", "dataset", "bench"]


# ---------------------------------------------------------------- helpers
def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``hf3fs ARGV`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def run_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m hf3fs ARGV`` as a real process (bytes out, text err)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hf3fs", *argv],
        capture_output=True,
        env=env if env is not None else subprocess_env(),
        timeout=120,
    )
    proc.stderr = proc.stderr.decode()
    return proc


def one_line(err: str) -> str:
    """The single line of an error report (no traceback)."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def assert_fails(capsys, *argv: str) -> str:
    """``hf3fs ARGV`` exits 1 with one line on stderr; returns that line."""
    status, _, err = run(capsys, *argv)
    assert status == 1, err
    return one_line(err)


def assert_same_bytes(got: bytes, want: bytes, what: str = "output") -> None:
    """Equal bytes, reported briefly (lengths and the first differing offset)."""
    if got == want:
        return
    at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    pytest.fail(f"{what}: {len(got):,} bytes, expected {len(want):,}; first difference at {at}")


def local_root() -> Path:
    return Path(hf3fs.Client("local", "").mount_root)


@pytest.fixture
def mdir():
    """A fresh directory on the embedded ``local`` mount: (URL, local path)."""
    name = f"cli-{uuid.uuid4().hex[:10]}"
    path = local_root() / name
    path.mkdir()
    yield f"hf3fs://local/{name}", path
    shutil.rmtree(path, ignore_errors=True)


def make_tree(root: Path) -> dict[str, bytes]:
    """Nested dirs, an empty file, sizes that do not divide the 4 MiB copy entry."""
    rng = random.Random(7)
    files = {
        "empty": b"",
        "one": b"x",
        "a.txt": b"hello\n",
        "sub/four-plus-3.bin": rng.randbytes(4 * MiB + 3),
        "sub/deeper/nine.bin": rng.randbytes(9 * MiB),
        "sub/deeper/small.bin": rng.randbytes(4097),
        "sub/deeper/empty-dir/.keep": b"",
        "other/leaf/x": b"leaf",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "sub" / "empty-dir-2").mkdir()
    return files


def tree(root: Path) -> tuple[set[str], dict[str, bytes]]:
    """(directories, {file: bytes}) under ``root``, relative."""
    dirs: set[str] = set()
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in filenames:
            files[os.path.normpath(os.path.join(rel, f))] = Path(dirpath, f).read_bytes()
    return dirs, files


def assert_same_tree(a: Path, b: Path) -> None:
    dirs_a, files_a = tree(a)
    dirs_b, files_b = tree(b)
    assert dirs_a == dirs_b
    assert sorted(files_a) == sorted(files_b)
    for rel, data in files_a.items():
        assert_same_bytes(files_b[rel], data, rel)


# ------------------------------------------------------------------- help
@pytest.mark.parametrize(
    "argv",
    [[], *([c] for c in COMMANDS), ["dataset", "inspect"]],
    ids=lambda a: " ".join(a) or "hf3fs",
)
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hf3fs")
    if argv:
        assert f"hf3fs {' '.join(argv)}" in out.splitlines()[0]
    else:
        for command in COMMANDS:
            assert command in out


def test_help_as_a_process():
    proc = run_process("--help")
    assert proc.returncode == 0, proc.stderr
    assert b"usage: hf3fs" in proc.stdout and proc.stderr == ""


def test_bench_passes_help_to_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "dataset", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: hf3fs bench dataset" in out and "--quick" in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([])
    assert exc.value.code == 2


# ------------------------------------------------------------------- demo
def demo_report(out: str) -> dict[int, int]:
    """Batches per rank from the demo's ``rank N ... (total K)`` lines."""
    per_rank = {}
    for line in out.splitlines():
        m = re.match(r"rank (\d+) .*\(total (\d+)\)$", line)
        if m:
            per_rank[int(m[1])] = int(m[2])
    return per_rank


def parquet_mtimes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.glob("*.parquet"))}


def test_demo_streams_checks_and_reuses_the_dataset(capsys):
    seed = "17"  # a seed no other test uses: the first run must generate
    status, out, err = run(capsys, *DEMO, "--seed", seed)
    assert status == 0, out + err
    assert "every row read exactly once" in out
    assert "generated in" in out and "already there" not in out
    per_rank = demo_report(out)
    assert sorted(per_rank) == [0, 1]
    assert len(set(per_rank.values())) == 1 and per_rank[0] > 0
    assert "rows/s" in out and "MB/s" in out
    assert "4,000 rows" in out
    directory = local_root() / "hf3fs-demo" / "tokens"
    before = parquet_mtimes(directory)
    assert len(before) == 2

    status, out, err = run(capsys, *DEMO, "--seed", seed)
    assert status == 0, out + err
    assert "already there" in out and "generated in" not in out
    assert "every row read exactly once" in out
    assert parquet_mtimes(directory) == before  # reused, not written again

    # 3 ranks x 1 worker: 4000 rows do not divide by 3; coverage still holds.
    status, out, err = run(capsys, *DEMO, "--seed", seed, "--ranks", "3", "--workers", "1")
    assert status == 0, out + err
    assert "every row read exactly once" in out
    assert "already there" in out
    per_rank = demo_report(out)
    assert sorted(per_rank) == [0, 1, 2] and len(set(per_rank.values())) == 1
    assert "1 left over" in out


def test_demo_regenerate_writes_again(capsys):
    seed = "18"
    assert run(capsys, *DEMO, "--seed", seed)[0] == 0
    status, out, _ = run(capsys, *DEMO, "--seed", seed, "--regenerate")
    assert status == 0
    assert "generated in" in out and "every row read exactly once" in out


@pytest.mark.parametrize(
    "args, option",
    [
        (["--rows", "0"], "--rows"),
        (["--files", "0"], "--files"),
        (["--ranks", "0"], "--ranks"),
        (["--workers", "-1"], "--workers"),
        (["--batch-size", "0"], "--batch-size"),
        (["--rows", "1", "--files", "2"], "--rows"),
        (["--io", "--reads", "0"], "--reads"),
        (["--io", "--file-mib", "0"], "--file-mib"),
    ],
)
def test_demo_bad_arguments(capsys, args, option):
    line = assert_fails(capsys, "demo", *args)
    assert line.startswith("hf3fs demo: error:") and option in line


def test_demo_error_is_one_line_and_debug_shows_the_traceback():
    proc = run_process("demo", "--rows", "0")
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert one_line(proc.stderr) == "hf3fs demo: error: --rows must be positive"
    for argv in (["--debug", "demo", "--rows", "0"], ["demo", "--rows", "0", "--debug"]):
        proc = run_process(*argv)
        assert proc.returncode == 1
        assert "Traceback" in proc.stderr and "ValueError: --rows must be positive" in proc.stderr


def test_demo_io(capsys):
    status, out, err = run(
        capsys, "demo", "--io", "--files", "2", "--file-mib", "1", "--reads", "64"
    )
    assert status == 0, out + err
    assert "OK" in out and "MISMATCH" not in out
    assert "64/64 verified" in out and "2/2 files verified" in out


def test_demo_io_keeps_the_dataset_demo(capsys):
    """``demo --io`` works in /hf3fs-demo; it must not delete the token dataset that
    ``demo`` keeps in /hf3fs-demo/tokens (the next ``demo`` would have to generate it
    again)."""
    seed = "19"
    assert run(capsys, *DEMO, "--seed", seed)[0] == 0
    assert run(capsys, "demo", "--io", "--files", "1", "--file-mib", "1", "--reads", "8")[0] == 0
    status, out, _ = run(capsys, *DEMO, "--seed", seed)
    assert status == 0
    assert "already there" in out, out


# ----------------------------------------------------------- mkdir and ls
def test_mkdir(capsys, mdir, tmp_path):
    url, path = mdir
    line = assert_fails(capsys, "mkdir", f"{url}/a/b/c")
    assert "No such file or directory" in line and f"{url}/a/b/c" in line
    assert not (path / "a").exists()
    assert run(capsys, "mkdir", "-p", f"{url}/a/b/c")[0] == 0
    assert (path / "a" / "b" / "c").is_dir()
    line = assert_fails(capsys, "mkdir", f"{url}/a")
    assert "File exists" in line and f"{url}/a" in line
    assert run(capsys, "mkdir", f"{url}/x", f"{url}/y")[0] == 0
    assert (path / "x").is_dir() and (path / "y").is_dir()

    local = tmp_path / "l"
    assert assert_fails(capsys, "mkdir", str(local / "m" / "n"))
    assert run(capsys, "mkdir", "--parents", str(local / "m" / "n"))[0] == 0
    assert (local / "m" / "n").is_dir()
    assert run(capsys, "mkdir", "-p", str(local / "m" / "n"), str(local / "m"))[0] == 0


def test_mkdir_p_on_an_existing_mount_directory(capsys, mdir):
    """``mkdir -p`` is documented "no error if it exists" (and works so on local paths)."""
    url, path = mdir
    (path / "a" / "b").mkdir(parents=True)
    status, _, err = run(capsys, "mkdir", "-p", f"{url}/a/b")
    assert status == 0 and err == "", err
    status, _, err = run(capsys, "mkdir", "-p", f"{url}/a")
    assert status == 0 and err == "", err


def test_ls(capsys, mdir, tmp_path):
    url, path = mdir
    (path / "b.bin").write_bytes(b"\0" * 1234)
    (path / "a.txt").write_text("hi")
    (path / ".hidden").write_text("secret")
    (path / "sub").mkdir()

    status, out, _ = run(capsys, "ls", url)
    assert status == 0 and out.splitlines() == ["a.txt", "b.bin", "sub"]
    status, out, _ = run(capsys, "ls", "-a", url + "/")
    assert status == 0 and out.splitlines() == [".hidden", "a.txt", "b.bin", "sub"]

    status, out, _ = run(capsys, "ls", "-l", url)
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3
    by_name = {line.split()[-1]: line.split() for line in lines}
    assert re.fullmatch(r"-[-rwx]{9}", by_name["b.bin"][0])
    assert by_name["b.bin"][1] == "1234" and by_name["a.txt"][1] == "2"
    assert by_name["sub"][0].startswith("d")
    status, out, _ = run(capsys, "ls", "-l", "-H", url)
    assert "1.2K" in out

    # A file lists as itself.
    assert run(capsys, "ls", f"{url}/a.txt")[1] == "a.txt\n"
    assert run(capsys, "ls", "-l", f"{url}/b.bin")[1].split()[1] == "1234"

    # Several paths: a header for each, a blank line between; a local directory too.
    (tmp_path / "loc").mkdir()
    (tmp_path / "loc" / "z").write_text("z")
    (tmp_path / "loc" / ".dot").write_text("")
    status, out, _ = run(capsys, "ls", f"{url}/sub", str(tmp_path / "loc"), url)
    assert status == 0
    assert out == (f"{url}/sub:\n\n{tmp_path / 'loc'}:\nz\n\n{url}:\na.txt\nb.bin\nsub\n")
    assert run(capsys, "ls", "-a", str(tmp_path / "loc"))[1] == ".dot\nz\n"


def test_stat(capsys, mdir):
    url, path = mdir
    (path / "f").write_bytes(b"12345")
    status, out, _ = run(capsys, "stat", f"{url}/f", url)
    assert status == 0
    assert f"File: {url}/f\n" in out and f"File: {url}\n" in out
    sizes = re.findall(r"Size: (\d+)\s+Blocks: \d+\s+(.+)", out)
    assert sizes[0] == ("5", "regular file")
    assert sizes[1][1] == "directory"
    assert "Modify:" in out


# -------------------------------------------------------------------- cat
def test_cat_in_process(capsysbinary, mdir, tmp_path):
    url, path = mdir
    a = bytes(range(256)) * 3 + b"\0\r\n"
    b = b"\xff\xfe second"
    (path / "a.bin").write_bytes(a)
    (tmp_path / "b.bin").write_bytes(b)
    (path / "empty").write_bytes(b"")
    status = cli.main(
        ["cat", f"{url}/a.bin", str(tmp_path / "b.bin"), f"{url}/empty", f"{url}/a.bin"]
    )
    out, err = capsysbinary.readouterr()
    assert status == 0 and err == b""
    assert out == a + b + a


def test_cat_large_files_exact_bytes(mdir, tmp_path):
    url, path = mdir
    data = os.urandom(9 * MiB + 5)  # crosses the 4 MiB pieces cat writes
    (path / "big.bin").write_bytes(data)
    (tmp_path / "big.bin").write_bytes(data[::-1])
    env = subprocess_env()
    env.pop("PYTHONUNBUFFERED", None)  # the default: stdout is buffered
    proc = run_process("cat", f"{url}/big.bin", str(tmp_path / "big.bin"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert_same_bytes(proc.stdout, data + data[::-1])


@pytest.mark.slow
def test_cat_to_a_slow_pipe_with_unbuffered_stdout(mdir, tmp_path):
    """With ``python -u`` / PYTHONUNBUFFERED=1 (common in containers and CI),
    ``sys.stdout.buffer`` is a raw FileIO whose write() may write only part of a
    buffer to a pipe; cat must still write every byte."""
    url, path = mdir
    data = os.urandom(9 * MiB + 5)
    (path / "big.bin").write_bytes(data)
    (tmp_path / "big.bin").write_bytes(data)
    for source in (f"{url}/big.bin", str(tmp_path / "big.bin")):
        proc = subprocess.Popen(
            [sys.executable, "-m", "hf3fs", "cat", source],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=subprocess_env(PYTHONUNBUFFERED="1"),
        )
        time.sleep(0.5)  # the pipe fills while nobody reads
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert_same_bytes(out, data, source)


def test_cat_into_a_closed_pipe_exits_quietly(mdir):
    url, path = mdir
    (path / "big.bin").write_bytes(os.urandom(6 * MiB))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hf3fs", "cat", f"{url}/big.bin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(),
    )
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()  # `hf3fs cat x | head -c 10`
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert b"Traceback" not in err


def test_cat_errors(capsys, mdir):
    url, _ = mdir
    line = assert_fails(capsys, "cat", url)
    assert "Is a directory" in line and url in line
    line = assert_fails(capsys, "cat", f"{url}/missing")
    assert "No such file or directory" in line and f"{url}/missing" in line


# --------------------------------------------------------------------- cp
def places(kind: str, mdir, tmp_path: Path) -> tuple[str, Path]:
    """(argument, local path) of a fresh place on the mount or on local disk."""
    url, path = mdir
    name = uuid.uuid4().hex[:8]
    if kind == "mount":
        return f"{url}/{name}", path / name
    return str(tmp_path / name), tmp_path / name


DIRECTIONS = [("local", "mount"), ("mount", "local"), ("mount", "mount"), ("local", "local")]


@pytest.mark.parametrize("src_kind, dst_kind", DIRECTIONS, ids=lambda k: k)
def test_cp_files(capsys, mdir, tmp_path, src_kind, dst_kind):
    src_dir, src_path = places(src_kind, mdir, tmp_path)
    src_path.mkdir()
    payloads = {
        "empty": b"",
        "odd.bin": os.urandom(4 * MiB + 3),
        "exact.bin": os.urandom(4 * MiB),
        "small.txt": b"small\n",
    }
    for name, data in payloads.items():
        (src_path / name).write_bytes(data)
    dst_dir, dst_path = places(dst_kind, mdir, tmp_path)
    dst_path.mkdir()

    # One file to a new name.
    assert run(capsys, "cp", f"{src_dir}/odd.bin", f"{dst_dir}/renamed")[0] == 0
    assert (dst_path / "renamed").read_bytes() == payloads["odd.bin"]
    # Overwriting a longer file truncates it.
    assert run(capsys, "cp", f"{src_dir}/small.txt", f"{dst_dir}/renamed")[0] == 0
    assert (dst_path / "renamed").read_bytes() == b"small\n"
    # Into an existing directory (with and without a trailing slash).
    assert run(capsys, "cp", f"{src_dir}/exact.bin", dst_dir)[0] == 0
    assert run(capsys, "cp", f"{src_dir}/empty", dst_dir + "/")[0] == 0
    assert (dst_path / "exact.bin").read_bytes() == payloads["exact.bin"]
    assert (dst_path / "empty").read_bytes() == b""
    # Several sources into a directory, verbose.
    (dst_path / "many").mkdir()
    status, out, _ = run(
        capsys, "cp", "-v", *(f"{src_dir}/{n}" for n in payloads), f"{dst_dir}/many"
    )
    assert status == 0
    total = sum(len(d) for d in payloads.values())
    assert f"copied {len(payloads)} file(s), {total:,} bytes" in out
    for name, data in payloads.items():
        assert (dst_path / "many" / name).read_bytes() == data, name


@pytest.mark.parametrize("src_kind, dst_kind", DIRECTIONS, ids=lambda k: k)
def test_cp_recursive_tree(capsys, mdir, tmp_path, src_kind, dst_kind):
    src, src_path = places(src_kind, mdir, tmp_path)
    src_path.mkdir()
    files = make_tree(src_path)
    dst, dst_path = places(dst_kind, mdir, tmp_path)

    # To a new name: the destination becomes the copy.
    status, out, err = run(capsys, "cp", "-r", "-v", src, dst)
    assert status == 0, err
    assert f"copied {len(files)} file(s), {sum(map(len, files.values())):,} bytes" in out
    assert_same_tree(src_path, dst_path)

    # Into an existing directory: a copy named after the source inside it.
    status, _, err = run(capsys, "cp", "--recursive", src, dst)
    assert status == 0, err
    assert_same_tree(src_path, dst_path / src_path.name)
    # The first copy is untouched.
    assert (dst_path / "sub" / "deeper" / "nine.bin").read_bytes() == files["sub/deeper/nine.bin"]


@pytest.mark.parametrize("src_kind, dst_kind", DIRECTIONS, ids=lambda k: k)
def test_cp_recursive_again_overwrites(capsys, mdir, tmp_path, src_kind, dst_kind):
    """Copying a tree again onto its earlier copy refreshes it (as cp -r does), also
    when the destination directories exist."""
    src, src_path = places(src_kind, mdir, tmp_path)
    src_path.mkdir()
    make_tree(src_path)
    dst, dst_path = places(dst_kind, mdir, tmp_path)
    assert run(capsys, "cp", "-r", src, dst)[0] == 0
    (src_path / "sub" / "deeper" / "small.bin").write_bytes(b"changed")
    (src_path / "new-file").write_bytes(b"new")
    status, _, err = run(capsys, "cp", "-r", f"{src}/sub", src, dst)
    assert status == 0 and err == "", err
    assert (dst_path / "sub" / "deeper" / "small.bin").read_bytes() == b"changed"
    assert (dst_path / src_path.name / "new-file").read_bytes() == b"new"
    status, _, err = run(capsys, "cp", "-r", f"{src}/sub", f"{dst}/sub")  # dst/sub exists
    assert status == 0 and err == "", err
    assert_same_tree(src_path / "sub", dst_path / "sub" / "sub")


def test_cp_between_two_mounts(capsys, mounts, tmp_path):
    a = mounts.add("a")
    b = mounts.add("b")
    make_tree(a / "src")
    status, _, err = run(capsys, "cp", "-r", "hf3fs://a/src", "hf3fs://b/copy")
    assert status == 0, err
    assert_same_tree(a / "src", b / "copy")
    status, _, err = run(capsys, "cp", "hf3fs://a/src/sub/four-plus-3.bin", "hf3fs://b/")
    assert status == 0, err
    assert (b / "four-plus-3.bin").read_bytes() == (a / "src/sub/four-plus-3.bin").read_bytes()
    # The embedded mount is not configured then: the error names the mount.
    line = assert_fails(capsys, "cp", "hf3fs://local/x", str(tmp_path / "y"))
    assert "unknown mount 'local'" in line


def test_cp_progress_bar(capsys, mdir, tmp_path):
    url, path = mdir
    (tmp_path / "f").write_bytes(os.urandom(MiB + 1))
    status, out, err = run(capsys, "cp", "--progress", str(tmp_path / "f"), f"{url}/f")
    assert status == 0 and out == ""
    assert "cp" in err and "100%" in err
    assert (path / "f").read_bytes() == (tmp_path / "f").read_bytes()
    # Not a terminal: no bar unless asked.
    status, out, err = run(capsys, "cp", str(tmp_path / "f"), f"{url}/g")
    assert status == 0 and out == "" and err == ""


def test_cp_errors(capsys, mdir, tmp_path):
    url, path = mdir
    (path / "d").mkdir()
    (path / "d" / "f").write_text("f")
    (path / "g").write_text("g")
    (path / "h").write_text("h")

    line = assert_fails(capsys, "cp", f"{url}/d", f"{url}/e")
    assert "Is a directory" in line and "-r" in line and f"{url}/d" in line
    assert not (path / "e").exists()

    line = assert_fails(capsys, "cp", f"{url}/g", f"{url}/h", f"{url}/new")
    assert "Not a directory" in line and f"{url}/new" in line
    line = assert_fails(capsys, "cp", f"{url}/g", f"{url}/d/f", f"{url}/h")
    assert "Not a directory" in line and f"{url}/h" in line
    assert (path / "h").read_text() == "h"  # nothing copied

    line = assert_fails(capsys, "cp", f"{url}/missing", str(tmp_path / "x"))
    assert "No such file or directory" in line and f"{url}/missing" in line
    line = assert_fails(capsys, "cp", str(tmp_path / "missing"), url)
    assert "No such file or directory" in line and str(tmp_path / "missing") in line
    line = assert_fails(capsys, "cp", f"{url}/g", f"{url}/no/such/dir/g")
    assert "No such file or directory" in line


@pytest.mark.parametrize("kind", ["mount", "local"])
def test_cp_a_file_onto_itself_keeps_it(capsys, mdir, tmp_path, kind):
    """``cp f f`` (or into the directory f is in) must not truncate f (GNU cp: "are the
    same file", exit 1)."""
    where, path = places(kind, mdir, tmp_path)
    path.mkdir()
    data = os.urandom(100_000)
    (path / "f").write_bytes(data)
    status, _, err = run(capsys, "cp", f"{where}/f", f"{where}/f")
    assert_same_bytes((path / "f").read_bytes(), data, "f after `cp f f`")
    assert status == 1 and one_line(err)
    status, _, err = run(capsys, "cp", f"{where}/f", where)
    assert_same_bytes((path / "f").read_bytes(), data, "f after `cp f DIR-of-f`")
    assert status == 1 and one_line(err)


@pytest.mark.parametrize("kind", ["mount", "local"])
def test_cp_a_directory_into_itself_is_refused(capsys, mdir, tmp_path, kind):
    """``cp -r d d/sub`` must fail at once (GNU cp: "cannot copy a directory into
    itself"), not copy its own copy again and again."""
    where, path = places(kind, mdir, tmp_path)
    (path / "sub").mkdir(parents=True)
    (path / "f").write_text("f")
    status, _, err = run(capsys, "cp", "-r", where, f"{where}/sub")
    assert status == 1
    one_line(err)
    assert not (path / "sub" / path.name / "sub" / path.name).exists(), "copied into itself"


@pytest.mark.parametrize("kind", ["mount", "local"])
def test_cp_into_itself_through_a_link_is_refused(capsys, mdir, tmp_path, kind):
    """A target reached through a symlink to the source lies inside it too (GNU cp
    compares inodes); nothing is written."""
    where, path = places(kind, mdir, tmp_path)
    (path / "tree" / "sub").mkdir(parents=True)
    (path / "tree" / "f").write_text("f")
    (path / "alias").symlink_to("tree")
    status, _, err = run(capsys, "cp", "-r", f"{where}/tree", f"{where}/alias/sub")
    assert status == 1
    assert "into itself" in one_line(err)
    assert list((path / "tree" / "sub").iterdir()) == []
    # A sibling that is not the source is no alias: the copy goes ahead.
    (path / "other").mkdir()
    assert run(capsys, "cp", "-r", f"{where}/tree", f"{where}/other")[0] == 0
    assert (path / "other" / "tree" / "f").read_text() == "f"


def test_cp_into_itself_through_a_relative_target_is_refused(capsys, tmp_path, monkeypatch):
    """The target's ancestors include the working directory when it is relative."""
    tree = tmp_path / "tree"
    (tree / "work").mkdir(parents=True)
    (tree / "f").write_text("f")
    monkeypatch.chdir(tree / "work")
    status, _, err = run(capsys, "cp", "-r", str(tree), "copy")
    assert status == 1
    assert "into itself" in one_line(err)
    assert not (tree / "work" / "copy").exists()


@pytest.mark.parametrize("kind", ["mount", "local"])
def test_cp_du_and_rm_with_links_in_the_tree(capsys, mdir, tmp_path, kind):
    """Links to files are copied as files; a linked directory (here a loop to an
    ancestor) is made but not entered, so a copy and du end; rm removes a link, not
    what it names."""
    where, path = places(kind, mdir, tmp_path)
    (path / "d").mkdir(parents=True)
    (path / "d" / "x").write_bytes(b"x" * 10)
    (path / "f").write_bytes(b"f" * 5)
    os.symlink("..", path / "d" / "up")
    os.symlink("f", path / "lf")
    dst = tmp_path / "copy"
    status, out, err = run(capsys, "cp", "-r", "-v", where, str(dst))
    assert status == 0, err
    assert "copied 3 file(s), 20 bytes" in out
    assert (dst / "lf").read_bytes() == b"f" * 5 and not (dst / "lf").is_symlink()
    assert (dst / "d" / "up").is_dir() and not any((dst / "d" / "up").iterdir())
    status, out, _ = run(capsys, "du", "-s", where)
    assert status == 0 and du_lines(out) == [("20", where)]
    assert run(capsys, "rm", f"{where}/lf")[0] == 0
    assert not os.path.lexists(path / "lf") and (path / "f").exists()
    assert run(capsys, "rm", f"{where}/d/up")[0] == 0  # a link to a directory: no -r needed
    assert not os.path.lexists(path / "d" / "up") and (path / "d" / "x").exists()


def test_rm_refuses_a_mount_root(capsys, mdir):
    line = assert_fails(capsys, "rm", "-r", "hf3fs://local/")
    assert "root" in line
    assert mdir[1].exists()


# --------------------------------------------------------------------- rm
def test_rm(capsys, mdir, tmp_path):
    url, path = mdir
    (path / "f").write_text("f")
    (path / "d" / "e").mkdir(parents=True)
    (path / "d" / "e" / "g").write_text("g")

    assert run(capsys, "rm", f"{url}/f")[0] == 0
    assert not (path / "f").exists()
    line = assert_fails(capsys, "rm", f"{url}/d")
    assert "Is a directory" in line and f"{url}/d" in line
    assert (path / "d" / "e" / "g").exists()
    assert run(capsys, "rm", "-r", f"{url}/d")[0] == 0
    assert not (path / "d").exists()

    line = assert_fails(capsys, "rm", f"{url}/missing")
    assert "No such file or directory" in line and f"{url}/missing" in line
    status, out, err = run(capsys, "rm", "-f", f"{url}/missing", f"{url}/also-missing")
    assert (status, out, err) == (0, "", "")

    # Local paths.
    (tmp_path / "ld" / "x").mkdir(parents=True)
    (tmp_path / "lf").write_text("x")
    line = assert_fails(capsys, "rm", str(tmp_path / "ld"))
    assert "Is a directory" in line and str(tmp_path / "ld") in line
    assert run(capsys, "rm", "-r", "-f", str(tmp_path / "ld"), str(tmp_path / "lf"))[0] == 0
    assert not (tmp_path / "ld").exists() and not (tmp_path / "lf").exists()
    assert assert_fails(capsys, "rm", str(tmp_path / "lf"))
    assert run(capsys, "rm", "-f", str(tmp_path / "lf"))[0] == 0


# --------------------------------------------------------------------- du
def du_lines(out: str) -> list[tuple[str, str]]:
    return [tuple(line.split(None, 1)) for line in out.splitlines()]


@pytest.mark.parametrize("kind", ["mount", "local"])
def test_du(capsys, mdir, tmp_path, kind):
    where, path = places(kind, mdir, tmp_path)
    path.mkdir()
    files = make_tree(path)
    total = sum(len(d) for d in files.values())
    per_child: dict[str, int] = defaultdict(int)
    for rel, data in files.items():
        per_child[rel.split("/")[0]] += len(data)

    status, out, _ = run(capsys, "du", where)
    assert status == 0
    lines = du_lines(out)
    assert lines[-1] == (str(total), where)
    children = {name: int(size) for size, name in lines[:-1]}
    assert children == {f"{where}/{name}": size for name, size in per_child.items()}
    assert sum(children.values()) == total

    status, out, _ = run(capsys, "du", "-s", where, f"{where}/sub")
    assert status == 0
    assert du_lines(out) == [(str(total), where), (str(per_child["sub"]), f"{where}/sub")]

    status, out, _ = run(capsys, "du", "-s", "-H", where)
    assert du_lines(out) == [(f"{total / MiB:.1f}M", where)]
    status, out, _ = run(capsys, "du", "-H", f"{where}/a.txt", f"{where}/sub/deeper/small.bin")
    assert du_lines(out) == [
        ("6B", f"{where}/a.txt"),
        (f"{4097 / 1024:.1f}K", f"{where}/sub/deeper/small.bin"),
    ]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("command", ["ls", "stat", "cat", "du", "rm"])
def test_missing_path_is_one_line_naming_the_url(capsys, mdir, command):
    url, _ = mdir
    line = assert_fails(capsys, command, f"{url}/no/such")
    assert line == f"hf3fs {command}: error: No such file or directory: {url}/no/such"


@pytest.mark.parametrize("command", ["ls", "stat", "cat", "du", "rm", "mkdir"])
def test_unknown_mount_names_the_mount(capsys, command):
    line = assert_fails(capsys, command, "hf3fs://nomount/x")
    assert line.startswith(f"hf3fs {command}: error:") and "nomount" in line
    assert "unknown mount" in line


def test_malformed_url(capsys):
    line = assert_fails(capsys, "ls", "hf3fs:///x")
    assert "hf3fs://<mount>/<path>" in line


def test_errors_as_a_process(mdir):
    url, _ = mdir
    proc = run_process("ls", f"{url}/missing")
    assert proc.returncode == 1 and proc.stdout == b""
    assert one_line(proc.stderr) == f"hf3fs ls: error: No such file or directory: {url}/missing"

    proc = run_process("cat", "hf3fs://nomount/x")
    assert proc.returncode == 1
    assert "unknown mount 'nomount'" in one_line(proc.stderr)

    proc = run_process("ls", "--debug", f"{url}/missing")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "FileNotFoundError" in proc.stderr


# -------------------------------------------------------- dataset inspect
# parquet_dir (conftest) holds dataset_helpers.TWO_FILES, written by write_two_files.


def pyarrow_column_sizes(directory: Path) -> dict[str, tuple[int, int, set[str]]]:
    """Compressed bytes, uncompressed bytes and codecs per top-level column."""
    sizes: dict[str, list] = defaultdict(lambda: [0, 0, set()])
    for path in sorted(directory.glob("*.parquet")):
        meta = pq.read_metadata(path)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                entry = sizes[chunk.path_in_schema.split(".")[0]]
                entry[0] += chunk.total_compressed_size
                entry[1] += chunk.total_uncompressed_size
                entry[2].add(chunk.compression)
    return {name: (c, u, codecs) for name, (c, u, codecs) in sizes.items()}


def test_dataset_inspect_text(capsys, parquet_dir):
    directory, written = parquet_dir, TWO_FILES
    status, out, err = run(capsys, "dataset", "inspect", "--files", str(directory))
    assert status == 0, err
    assert f"source      {directory}" in out
    assert "files       2  row groups 5  rows 1,500" in out
    assert "page index  1 of 2 files" in out
    for field in ("  id: int64", "  name: string", "  vals: list<element: int64>"):
        assert field in out.splitlines()
    expected = pyarrow_column_sizes(directory)
    assert expected["vals"][2] == {"ZSTD"} and expected["id"][2] == {"SNAPPY", "ZSTD"}
    for name, (compressed, uncompressed, codecs) in expected.items():
        (line,) = [row for row in out.splitlines() if row.split()[:1] == [name]]
        cells = line.split(None, 4)
        assert cells[1] == f"{compressed:,}" and cells[2] == f"{uncompressed:,}", line
        assert set(cells[4].split(", ")) == codecs, line
    for name, f in written.items():
        # The path column keeps the last 60 characters.
        (line,) = [row for row in out.splitlines() if row and row.split()[0].endswith(f"/{name}")]
        cells = line.split()
        assert int(cells[1]) == f["row_groups"]
        assert int(cells[2].replace(",", "")) == f["rows"]
        assert cells[-1] == ("yes" if f["page_index"] else "no")


def test_dataset_inspect_json(capsys, parquet_dir):
    directory, written = parquet_dir, TWO_FILES
    status, out, err = run(capsys, "dataset", "inspect", "--json", str(directory))
    assert status == 0, err
    info = json.loads(out)
    assert [f["name"] for f in info["schema"]] == ["id", "name", "vals"]
    assert info["rows"] == info["num_rows"] == 1500 and info["row_groups"] == 5
    files = {os.path.basename(f["path"]): f for f in info["files"]}
    assert sorted(files) == sorted(written)
    for name, f in written.items():
        assert files[name]["page_index"] is f["page_index"]
        assert files[name]["rows"] == f["rows"] and files[name]["row_groups"] == f["row_groups"]
        assert files[name]["bytes"] == (directory / name).stat().st_size
    assert info["bytes"] == sum((directory / n).stat().st_size for n in written)
    for name, (compressed, uncompressed, codecs) in pyarrow_column_sizes(directory).items():
        column = info["columns"][name]
        assert column["compressed_bytes"] == compressed
        assert column["uncompressed_bytes"] == uncompressed
        assert set(column["codecs"]) == codecs and len(column["codecs"]) == len(codecs)
        assert column["read"] is True


def test_dataset_inspect_on_the_mount(capsys, mdir):
    url, path = mdir
    write_two_files(path / "ds")
    status, out, err = run(capsys, "dataset", "inspect", "--json", f"{url}/ds")
    assert status == 0, err
    assert json.loads(out)["rows"] == 1500


def test_dataset_inspect_tokens(capsys, parquet_dir):
    directory, written = parquet_dir, TWO_FILES
    # vals has 3 tokens a row; with an EOS, 4.
    status, out, err = run(
        capsys,
        "dataset",
        "inspect",
        "--tokens",
        "vals",
        "--seq-len",
        "7",
        "--eos-token",
        "0",
        "--world-size",
        "2",
        str(directory),
    )
    assert status == 0, err
    total = 4 * sum(f["rows"] for f in written.values())
    assert f"tokens of 'vals', an EOS 0 after each document: {total:,}" in out
    for name, f in written.items():
        (line,) = [
            row for row in out.splitlines() if row.split()[:1] and row.split()[0].endswith(name)
        ]
        cells = line.split()
        assert cells[1:4] == [f"{f['rows']:,}", f"{4 * f['rows']:,}", "4.0"], line
    per_rank = total // 2 // 7
    assert f"sequences of 7 tokens per rank (2 ranks): {per_rank:,}; " in out
    assert f"tokens left out per epoch: {total - 2 * 7 * per_rank:,}" in out

    status, out, err = run(
        capsys, "dataset", "inspect", "--json", "--tokens", "vals", "--seq-len", "5", str(directory)
    )
    assert status == 0, err
    plan = json.loads(out)["tokens"]
    assert plan["tokens"] == 3 * 1500 and plan["sequences_per_rank"] == 3 * 1500 // 5
    assert sum(f["tokens"] for f in plan["per_file"]) == plan["tokens"]

    line = assert_fails(capsys, "dataset", "inspect", "--tokens", "name", str(directory))
    assert '"name"' in line and "list (or large list) of integer tokens" in line


def test_dataset_inspect_errors(capsys, tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not a parquet file, not even close")
    line = assert_fails(capsys, "dataset", "inspect", str(bad))
    assert line.startswith("hf3fs dataset inspect: error:") and str(bad) in line

    proc = run_process("dataset", "inspect", str(bad))
    assert proc.returncode == 1
    assert str(bad) in one_line(proc.stderr)

    line = assert_fails(capsys, "dataset", "inspect", str(tmp_path / "missing"))
    assert "missing" in line


# ------------------------------------------------------------------ bench
def test_bench_coalesce_smoke(capsys):
    status, out, err = run(capsys, "bench", "coalesce", "--smoke")
    assert status == 0, err
    for plan in ("per-chunk, sequential", "no coalescing", "arrow defaults", "network metrics"):
        assert plan in out


@pytest.mark.slow
def test_bench_dataset_plot(capsys, tmp_path):
    png = tmp_path / "out.png"
    status, out, err = run(
        capsys,
        "bench",
        "--plot",
        str(png),
        "dataset",
        "--quick",
        "--modes",
        "warm",
        "--readers",
        "hf3fs,pyarrow-file",
    )
    assert status == 0, out + err
    assert f"chart written to {png}" in out
    data = png.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


def test_bench_plot_coalesce_is_refused_before_it_runs(capsys, tmp_path):
    png = tmp_path / "x.png"
    status, out, err = run(capsys, "bench", "--plot", str(png), "coalesce", "--smoke")
    assert status == 1
    assert one_line(err) == (
        "hf3fs bench: error: bench coalesce: --plot draws io and dataset results only"
    )
    assert "network metrics" not in out  # refused before the benchmark ran
    assert not png.exists()


def test_uris_are_percent_decoded_like_from_uri(capsys, mdir, tmp_path):
    """The CLI splits URIs with the parser FileSystem.from_uri uses: %20 is a space on a
    mount, file:// URIs are local, and a bad escape is an error naming the URI."""
    url, root = mdir
    (root / "a b.txt").write_bytes(b"spaced\n")
    status, out, err = run(capsys, "cat", f"{url}/a%20b.txt")
    assert (status, out) == (0, "spaced\n"), err
    local = tmp_path / "x y.txt"
    status, _, err = run(
        capsys, "cp", f"{url}/a%20b.txt", "file://" + str(local).replace(" ", "%20")
    )
    assert status == 0, err
    assert local.read_bytes() == b"spaced\n"
    line = assert_fails(capsys, "cat", f"{url}/a%zz")
    assert "%-escape" in line
    line = assert_fails(capsys, "ls", "mock://x")
    assert "hf3fs:// and s3://" in line
