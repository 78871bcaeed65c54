"""The ``hf3fs`` command (also ``python -m hf3fs``).

``hf3fs demo`` runs the main job on the embedded ``local`` mount; the file
commands (``ls``, ``stat``, ``cat``, ``cp``, ``mkdir``, ``rm``, ``du``) take
``hf3fs://<mount>/<path>`` URLs and local paths; ``hf3fs dataset inspect``
describes a Parquet source; ``hf3fs bench`` runs the benchmarks. Errors print
one line and exit non-zero (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys

from . import _cli_dataset, _cli_fs, _demo


def _build_parser() -> argparse.ArgumentParser:
    # Options every command takes; SUPPRESS so a subcommand's default does not
    # overwrite a value given before the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    common.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help="token for hf3fs:// mounts (default: $HF3FS_TOKEN or empty)",
    )
    common.add_argument(
        "-o",
        "--storage-option",
        action="append",
        metavar="KEY=VALUE",
        default=argparse.SUPPRESS,
        help="a setting for s3:// paths (object_store's keys: aws_endpoint, aws_region, "
        "aws_allow_http, ...), over the AWS_* environment; repeat for more",
    )
    parser = argparse.ArgumentParser(
        prog="hf3fs",
        parents=[common],
        description="hf3fs: fast, safe access to training data on a mount.",
        epilog="`hf3fs COMMAND --help` describes each command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the main job: stream a token dataset as 2 ranks x 2 workers and verify it",
        description=(
            "On a mount (the embedded 'local' one by default), generate a small token-style "
            "Parquet dataset if it is absent, stream it as --ranks simulated ranks x "
            "--workers DataLoader workers with a shuffle, check that every row is read "
            "exactly once and every rank gets the same number of batches, and print what "
            "was read and how fast. --io runs the client demo instead: files written and "
            "read back with batched preadv into a shared-memory iovec."
        ),
    )
    demo.add_argument("--mount", default=None, help="mount name (default: $HF3FS_MOUNT or local)")
    demo.add_argument("--rows", type=int, default=40_000, help="rows to generate (default 40,000)")
    demo.add_argument("--files", type=int, default=4, help="Parquet files (default 4)")
    demo.add_argument("--ranks", type=int, default=2, help="simulated ranks (default 2)")
    demo.add_argument("--workers", type=int, default=2, help="workers per rank (default 2)")
    demo.add_argument("--batch-size", type=int, default=1024, help="rows a batch (default 1024)")
    demo.add_argument("--seed", type=int, default=0, help="data and shuffle seed (default 0)")
    demo.add_argument(
        "--shuffle-window",
        type=int,
        default=4096,
        help="also shuffle rows within windows of this many (default 4096; 0: row groups only)",
    )
    demo.add_argument("--regenerate", action="store_true", help="write the dataset again")
    demo.add_argument("--io", action="store_true", help="run the batched-IO demo instead")
    demo.add_argument("--file-mib", type=int, default=8, help="--io: MiB a file (default 8)")
    demo.add_argument(
        "--reads", type=int, default=4096, help="--io: random 4 KiB reads in one preadv"
    )
    demo.set_defaults(func=_demo.run)
    _cli_fs.add_commands(sub, common)
    _cli_dataset.add_commands(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``hf3fs`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    if not hasattr(args, "token"):
        args.token = None
    name = args.command
    if name == "dataset":
        name = f"dataset {args.dataset_command}"
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # `hf3fs cat x | head`: the reader left; nothing to report.
        sys.stderr.close()
        return 141
    except KeyboardInterrupt:
        print(f"hf3fs {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for people; --debug for the traceback
        if debug:
            raise
        print(f"hf3fs {name}: error: {_describe(error)}", file=sys.stderr)
        return 1


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        name = error.filename
        if name is None or str(name) in error.strerror:
            return error.strerror
        return f"{error.strerror}: {name}"
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: {text}"
