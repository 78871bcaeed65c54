"""Benchmarks shipped with hf3fs: ``hf3fs bench io|dataset|coalesce`` runs them.

* :mod:`hf3fs.bench.io`: batched ``preadv`` against a Python loop (and fio);
* :mod:`hf3fs.bench.dataset`: ``ParquetDataset`` against pyarrow, HF datasets
  and polars on a token dataset;
* :mod:`hf3fs.bench.coalesce`: the ReadRangeCache's coalescing plans.

Each module's ``main(argv)`` parses its own options and prints a table;
``benchmarks/*.py`` in the source tree call the same functions.
"""
