"""Runs :mod:`hf3fs.bench.coalesce` (``hf3fs bench coalesce``); ``--help`` lists its options."""

import sys

from hf3fs.bench.coalesce import main

if __name__ == "__main__":
    sys.exit(main())
