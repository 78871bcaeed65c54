"""Runs :mod:`hf3fs.bench.s3` (also ``hf3fs bench s3``); ``--help`` lists its options."""

import sys

from hf3fs.bench.s3 import main

if __name__ == "__main__":
    sys.exit(main())
