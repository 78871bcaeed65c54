"""The ``hf3fs`` command."""

from __future__ import annotations

import argparse
import sys

from . import _demo


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf3fs", description="hf3fs: fast, safe access to training data on a mount."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="write files on a mount and read them back with one batched preadv",
        description=(
            "Create files on a mount (the embedded 'local' mount by default), read them "
            "back with batched preadv calls into a shared-memory iovec, verify every byte "
            "and print what was done and how fast."
        ),
    )
    demo.add_argument("--mount", default=None, help="mount name (default: $HF3FS_MOUNT or local)")
    demo.add_argument("--token", default=None, help="token (default: $HF3FS_TOKEN or empty)")
    demo.add_argument("--files", type=int, default=8, help="number of files (default 8)")
    demo.add_argument(
        "--file-mib", type=int, default=8, help="size of each file in MiB (default 8)"
    )
    demo.add_argument(
        "--reads", type=int, default=4096, help="random 4 KiB reads in one preadv (default 4096)"
    )
    demo.set_defaults(func=_demo.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``hf3fs`` command; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError) as error:
        if args.debug:
            raise
        print(f"hf3fs {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hf3fs {args.command}: interrupted", file=sys.stderr)
        return 130
