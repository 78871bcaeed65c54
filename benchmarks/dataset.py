"""Runs :mod:`hf3fs.bench.dataset` (also ``hf3fs bench dataset``); ``--help`` lists its options."""

import sys

from hf3fs.bench.dataset import main

if __name__ == "__main__":
    sys.exit(main())
