"""Benchmarks shipped with hf3fs: ``hf3fs bench io|dataset|coalesce|s3|pack`` runs them.

* :mod:`hf3fs.bench.io`: batched ``preadv`` against a Python loop (and fio);
* :mod:`hf3fs.bench.dataset`: ``ParquetDataset`` against pyarrow, HF datasets
  and polars on a token dataset;
* :mod:`hf3fs.bench.coalesce`: the ReadRangeCache's coalescing plans;
* :mod:`hf3fs.bench.s3`: ``ParquetDataset`` against ``pyarrow.dataset`` and HF
  ``datasets`` streaming from an S3-compatible store (a local moto server);
* :mod:`hf3fs.bench.pack`: packed ``[8, 4096]`` pretraining batches with
  ``Pack`` against a numpy packer and HF ``datasets``' ``group_texts``.

Each module's ``main(argv)`` parses its own options and prints a table;
``benchmarks/*.py`` in the source tree call the same functions.
"""
