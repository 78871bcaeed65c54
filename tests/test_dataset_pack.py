"""``ParquetDataset(..., pack=Pack(...))``: documents packed into fixed-length sequences.

Against a reference packer written from the definition: the plan's token stream (row
groups in order, documents in order, EOS after each) cut into ``world_size x num_workers``
equal spans of whole batches, each span cut into sequences, positions restarting at every
document and sequence start, ``cu_seqlens`` over the flattened batch. Also: every (rank,
worker) yields the same number of batches, formats agree, exact and elastic resume, torchdata's
StatefulDataLoader, and clear errors."""

from __future__ import annotations

import json
import pickle
import tempfile

import numpy as np
import pyarrow as pa
import pytest
import torch
from dataset_helpers import DATALOADER_MARKS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pack_helpers import (
    EOS,
    assert_batches_equal,
    check_pieces,
    check_structure,
    corpus_specs,
    data_tokens,
    interleave,
    make_packed,
    read,
    reference_batches,
    write_corpus,
)
from torchdata.stateful_dataloader import StatefulDataLoader

from hf3fs.dataset import Pack, ParquetDataset

pytestmark = DATALOADER_MARKS


def examples(n: int) -> settings:
    """Hypothesis settings: ``n`` examples, no deadline (the machine may be loaded)."""
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def worker_batches(ds, workers: int) -> list[list[dict]]:
    """Each worker's batches (workers=0: the main process's, as one worker)."""
    if workers == 0:
        return [read(ds)]
    return [read(ds._iter_worker(w, workers)) for w in range(workers)]


def batches_per_worker(ds, workers: int) -> int:
    if workers == 0:
        return len(ds)
    n = ds.num_batches(num_workers=workers)
    assert n % workers == 0, n
    return n // workers


# ---- the plan and the packed values, against the reference ----------------------------------


@examples(40)
@given(
    spec=corpus_specs(min_docs=8),
    seq_len=st.integers(1, 32),
    spb=st.integers(1, 4),
    world=st.integers(1, 8),
    workers=st.integers(0, 4),
    shuffle=st.booleans(),
    eos=st.booleans(),
    drop_partial=st.booleans(),
    seed=st.integers(0, 3),
)
def test_spans_match_the_reference(
    spec, seq_len, spb, world, workers, shuffle, eos, drop_partial, seed
):
    eos_token = EOS if eos else None
    with tempfile.TemporaryDirectory() as directory:
        corpus = write_corpus(directory, *spec[:2], statistics=spec[2])
        pack = Pack("input_ids", seq_len, spb, eos_token=eos_token, drop_partial=drop_partial)
        stream = corpus.stream(eos_token)
        total = len(stream)
        parts = world * max(workers, 1)
        batch_tokens = seq_len * spb
        spans: list[list[dict]] = []
        for rank in range(world):
            ds = make_packed(
                directory, pack, shuffle=shuffle, seed=seed, rank=rank, world_size=world
            )
            info = ds.info(num_workers=workers)["tokens"]
            assert info["column"] == "input_ids"
            assert info["tokens"] == total
            assert sum(f["tokens"] for f in info["per_file"]) == total
            left_out = info["left_out"]
            if drop_partial:
                span = total // parts // batch_tokens * batch_tokens
                assert left_out < parts * batch_tokens
            else:
                span = total // parts
                assert left_out < parts
            assert left_out == total - parts * span, (left_out, total, parts, span)
            expect = -(-span // batch_tokens)  # whole batches, or the last one padded
            assert batches_per_worker(ds, workers) == expect
            assert info["batches_per_rank"] == ds.num_batches(num_workers=workers)
            assert info["batches_per_rank"] == expect * max(workers, 1)
            assert info["sequences_per_rank"] == info["batches_per_rank"] * spb
            for w, batches in enumerate(worker_batches(ds, workers)):
                assert len(batches) == expect, f"rank {rank} worker {w}"
                for b in batches:
                    check_structure(b, seq_len, spb, np.int32)
                    check_pieces(b, seq_len, corpus.doc_of, eos_token)
                    if b["num_tokens"] < batch_tokens:
                        assert not drop_partial
                        assert b is batches[-1], "only the last batch is padded"
                        pad = b["input_ids"].ravel()[b["num_tokens"] :]
                        assert (pad == (EOS if eos else 0)).all()
                assert sum(b["num_tokens"] for b in batches) == span
                spans.append(batches)

        event(f"batches per worker: {'0' if expect == 0 else '1' if expect == 1 else 'more'}")
        got = [t for batches in spans for b in batches for t in data_tokens(b)]
        assert len(got) == total - left_out
        data = [t for t in got if t != EOS]
        assert len(set(data)) == len(data), "a token was yielded twice"
        if not shuffle:
            assert got == [t for t, _ in stream[: total - left_out]]
            pad = EOS if eos else 0
            for i, batches in enumerate(spans):
                part = stream[i * span : (i + 1) * span]
                want = reference_batches(part, seq_len, spb, pad, np.int32)
                assert_batches_equal(batches, want, f"span {i}")
        else:
            # A prefix of the row groups laid end to end in some order, each at most once.
            used: set[int] = set()
            at = 0
            while at < len(data):
                g = corpus.group_of[data[at]]
                assert g not in used, f"row group {g} twice"
                used.add(g)
                group = corpus.group_data(g)
                piece = data[at : at + len(group)]
                assert piece == group[: len(piece)], f"row group {g} out of order"
                assert at + len(piece) == len(data) or len(piece) == len(group)
                at += len(piece)


@examples(25)
@given(
    spec=corpus_specs(min_docs=1),
    seq_len=st.integers(1, 16),
    spb=st.integers(1, 3),
    world=st.integers(1, 3),
    eos=st.booleans(),
)
def test_padded_last_batch(spec, seq_len, spb, world, eos):
    eos_token = EOS if eos else None
    with tempfile.TemporaryDirectory() as directory:
        corpus = write_corpus(directory, *spec[:2], statistics=spec[2])
        pack = Pack("input_ids", seq_len, spb, eos_token=eos_token, drop_partial=False)
        total = corpus.total(eos_token)
        span = total // world
        counts = []
        yielded = 0
        for rank in range(world):
            ds = make_packed(directory, pack, rank=rank, world_size=world)
            batches = read(ds)
            counts.append(len(batches))
            assert len(batches) == len(ds) == -(-span // (seq_len * spb))
            for b in batches[:-1]:
                assert b["num_tokens"] == seq_len * spb
            if batches:
                last = batches[-1]
                assert last["num_tokens"] == span - (len(batches) - 1) * seq_len * spb
                pad = last["input_ids"].ravel()[last["num_tokens"] :]
                assert (pad == (EOS if eos else 0)).all()
            yielded += sum(b["num_tokens"] for b in batches)
        assert len(set(counts)) == 1, counts
        assert yielded == world * span and total - yielded < world


def test_filtered_rows_are_counted_by_decoding(corpus):
    # Only documents with id >= 50: the footers cannot count those tokens, decoding does.
    pack = Pack("input_ids", 8, 2, eos_token=EOS, drop_partial=False)
    ds = make_packed(corpus.directory, pack, filter=[("id", ">=", 50)])
    stream = [
        (t, doc) for t, doc in corpus.stream(EOS) if doc >= 50
    ]  # ids number the documents in order
    info = ds.info()["tokens"]
    assert info["tokens"] == len(stream)
    assert any("decoded" in f["counted_from"] for f in info["per_file"]), info["per_file"]
    want = reference_batches(stream, 8, 2, EOS, np.int32)
    assert_batches_equal(read(ds), want)


# ---- formats and token types ----------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, large",
    [(pa.int32(), False), (pa.int64(), False), (pa.uint16(), False), (pa.int64(), True)],
    ids=["int32", "int64", "uint16", "large_list-int64"],
)
def test_formats_agree(tmp_path, dtype, large):
    rng = np.random.default_rng(5)
    files = [[int(n) if n >= 0 else None for n in rng.integers(-3, 40, size=30)] for _ in range(2)]
    corpus = write_corpus(tmp_path, files, [4, 7], dtype=dtype, large=large)
    np_dtype = dtype.to_pandas_dtype()
    spb = 3
    span = corpus.total(EOS) // 2  # rank 1 of 2, padded
    seq_len = next(n for n in range(7, 20) if span % (n * spb))  # so the last batch is padded
    eos = 65535 if dtype == pa.uint16() else 2**40 if dtype == pa.int64() else EOS
    pack = Pack("input_ids", seq_len, spb, eos_token=eos, drop_partial=False)

    def batches(fmt):
        return list(make_packed(tmp_path, pack, rank=1, world_size=2, format=fmt))

    as_numpy = batches("numpy")
    assert len(as_numpy) >= 2
    for b in as_numpy:
        check_structure(b, seq_len, spb, np_dtype)
        assert b["input_ids"].dtype == np_dtype
    assert as_numpy[-1]["num_tokens"] < seq_len * spb  # the padded one
    assert (as_numpy[-1]["input_ids"].ravel()[as_numpy[-1]["num_tokens"] :] == eos).all()
    # The data: tokens from the corpus, the right one after each document.
    tokens = {int(t) for b in as_numpy for t in data_tokens(b)}
    assert tokens - corpus.tokens <= {eos}

    as_torch = batches("torch")
    torch_dtype = {"int32": torch.int32, "int64": torch.int64, "uint16": torch.uint16}
    assert len(as_torch) == len(as_numpy)
    for t, n in zip(as_torch, as_numpy, strict=True):
        assert sorted(t) == sorted(n)
        assert t["input_ids"].dtype == torch_dtype[str(dtype)]
        assert t["position_ids"].dtype == torch.int64
        assert t["cu_seqlens"].dtype == torch.int32
        for key in ("input_ids", "position_ids", "cu_seqlens"):
            np.testing.assert_array_equal(t[key].numpy(), n[key])
        assert (t["max_seqlen"], t["num_tokens"]) == (n["max_seqlen"], n["num_tokens"])

    as_arrow = batches("arrow")
    assert len(as_arrow) == len(as_numpy)
    for a, n in zip(as_arrow, as_numpy, strict=True):
        assert sorted(a) == sorted(n)
        ids = pa.array(a["input_ids"])
        assert pa.types.is_fixed_size_list(ids.type), ids.type
        assert ids.type.list_size == seq_len and ids.type.value_type == dtype, ids.type
        assert len(ids) == spb
        np.testing.assert_array_equal(
            ids.flatten().to_numpy().reshape(spb, seq_len), n["input_ids"]
        )
        pos = pa.array(a["position_ids"])
        assert pa.types.is_fixed_size_list(pos.type) and pos.type.value_type == pa.int64()
        np.testing.assert_array_equal(
            pos.flatten().to_numpy().reshape(spb, seq_len), n["position_ids"]
        )
        cu = pa.array(a["cu_seqlens"])
        assert cu.type == pa.int32()
        np.testing.assert_array_equal(cu.to_numpy(), n["cu_seqlens"])
        for key in ("input_ids", "position_ids", "cu_seqlens"):
            got = a[key].to_numpy()
            assert got.dtype == n[key].dtype, key
            np.testing.assert_array_equal(got, n[key])
        assert (a["max_seqlen"], a["num_tokens"]) == (n["max_seqlen"], n["num_tokens"])


# ---- resume -----------------------------------------------------------------------------------


def plain(state: dict) -> dict:
    """The state survives JSON (a checkpoint's round trip)."""
    copy = json.loads(json.dumps(state))
    assert copy == state
    return copy


@examples(30)
@given(
    spec=corpus_specs(min_docs=1),
    seq_len=st.integers(1, 12),
    spb=st.integers(1, 3),
    world=st.integers(1, 3),
    shuffle=st.booleans(),
    eos=st.booleans(),
    drop_partial=st.booleans(),
    data=st.data(),
)
def test_resume_in_process(spec, seq_len, spb, world, shuffle, eos, drop_partial, data):
    rank = data.draw(st.integers(0, world - 1), label="rank")
    pack = Pack(
        "input_ids", seq_len, spb, eos_token=EOS if eos else None, drop_partial=drop_partial
    )
    with tempfile.TemporaryDirectory() as directory:
        write_corpus(directory, *spec[:2], statistics=spec[2])

        def fresh():
            ds = make_packed(directory, pack, shuffle=shuffle, seed=11, rank=rank, world_size=world)
            ds.set_epoch(2)
            return ds

        full = read(fresh())
        k = data.draw(st.integers(0, len(full)), label="k")
        ds = fresh()
        it = iter(ds)
        first = [next(it) for _ in range(k)]
        first = read(first)
        state = plain(ds.state_dict())
        del it
        resumed = fresh()
        resumed.load_state_dict(state)
        assert_batches_equal(first + read(resumed), full, f"k={k}")


@examples(25)
@given(
    spec=corpus_specs(min_docs=1),
    seq_len=st.integers(1, 12),
    spb=st.integers(1, 3),
    shuffle=st.booleans(),
    drop_partial=st.booleans(),
    workers=st.integers(2, 3),
    data=st.data(),
)
def test_rank_state_for_workers(spec, seq_len, spb, shuffle, drop_partial, workers, data):
    pack = Pack("input_ids", seq_len, spb, eos_token=EOS, drop_partial=drop_partial)
    with tempfile.TemporaryDirectory() as directory:
        write_corpus(directory, *spec[:2], statistics=spec[2])

        def fresh():
            return make_packed(directory, pack, shuffle=shuffle, seed=4, rank=1, world_size=2)

        full = read(interleave([fresh()._iter_worker(w, workers) for w in range(workers)]))
        assert len(full) == fresh().num_batches(num_workers=workers)
        k = data.draw(st.integers(0, len(full)), label="k")
        state = plain(fresh().state_dict(batches=k, num_workers=workers))
        resumed = fresh()
        resumed.load_state_dict(state)
        # What each DataLoader worker receives: a copy of the main process's dataset.
        blob = pickle.dumps(resumed)
        copies = [pickle.loads(blob) for _ in range(workers)]
        rest = read(interleave([c._iter_worker(w, workers) for w, c in enumerate(copies)]))
        assert_batches_equal(rest, full[k:], f"k={k}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(3)
    files = [
        [int(n) if n >= 0 else None for n in rng.integers(-2, 50, size=size)]
        for size in (60, 45, 70)
    ]
    directory = tmp_path_factory.mktemp("pack")
    return write_corpus(directory, files, [9, 4, 16])


ELASTIC_PACK = Pack("input_ids", 8, 2, eos_token=EOS)


@pytest.mark.parametrize("mode", ["main-process", "rank-level"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("old_world, new_world", [(4, 3), (2, 4)])
def test_elastic_resume(corpus, old_world, new_world, shuffle, mode):
    k = 3
    batch_tokens = ELASTIC_PACK.batch_tokens

    def make(rank, world):
        return make_packed(
            corpus.directory, ELASTIC_PACK, shuffle=shuffle, seed=8, rank=rank, world_size=world
        )

    before: list[dict] = []
    states = []
    for rank in range(old_world):
        if mode == "main-process":
            ds = make(rank, old_world)
            it = iter(ds)
            before += read(next(it) for _ in range(k))
            states.append(plain(ds.state_dict()))
            del it
        else:  # a DataLoader with 2 workers took k batches; the training loop saves
            full = interleave([make(rank, old_world)._iter_worker(w, 2) for w in range(2)])
            before += read(full[:k])
            states.append(plain(make(rank, old_world).state_dict(batches=k, num_workers=2)))
    assert len(before) == old_world * k
    assert all(s == states[0] for s in states), "every rank's state is the same"

    counts = []
    after: list[dict] = []
    new_workers = 0 if mode == "main-process" else 2
    for rank in range(new_world):
        ds = make(rank, new_world)
        ds.load_state_dict(states[0])
        for batches in worker_batches(ds, new_workers):
            counts.append(len(batches))
            after += batches
    assert len(set(counts)) == 1 and counts[0] > 0, counts
    for b in after:
        check_structure(b, 8, 2, np.int32)
        check_pieces(b, 8, corpus.doc_of, EOS)
    tokens = [t for b in before + after for t in data_tokens(b)]
    data = [t for t in tokens if t != EOS]
    assert len(data) == len(set(data)), "a token was yielded twice"
    # Every token not yielded before is yielded after (the old plan's left-out tokens
    # included), but for less than a batch per new (rank, worker).
    total = corpus.total(EOS)
    missing = total - len(tokens)
    assert 0 <= missing < new_world * max(new_workers, 1) * batch_tokens, missing


# ---- torchdata's StatefulDataLoader ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
# torchdata 0.11 calls torch.set_vital, which newer torch deprecates.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize("k", [1, 4, 9])
def test_stateful_dataloader_resume(corpus, k):
    pack = Pack("input_ids", 16, 2, eos_token=EOS)

    def loader():
        ds = make_packed(corpus.directory, pack, shuffle=True, seed=2, format="torch")
        return StatefulDataLoader(ds, batch_size=None, num_workers=2)

    full = read(loader())
    model = make_packed(corpus.directory, pack, shuffle=True, seed=2)
    assert_batches_equal(full, read(interleave([model._iter_worker(w, 2) for w in range(2)])))
    assert len(full) > k

    interrupted = loader()
    it = iter(interrupted)
    first = read(next(it) for _ in range(k))
    state = interrupted.state_dict()
    del it

    resumed = loader()
    resumed.load_state_dict(state)
    assert_batches_equal(first + read(resumed), full, f"k={k}")


# ---- notebooks --------------------------------------------------------------------------------


def test_head_gives_the_first_sequences(corpus):
    ds = make_packed(corpus.directory, ELASTIC_PACK, shuffle=True, seed=6)
    ds.set_epoch(1)
    head = ds.head(5)
    assert list(head.columns) == ["input_ids", "position_ids"]
    sequences = [
        (ids.tolist(), pos.tolist())
        for b in read(ds)
        for ids, pos in zip(b["input_ids"], b["position_ids"], strict=True)
    ]
    assert len(head) == 5
    pairs = zip(head["input_ids"], head["position_ids"], strict=True)
    assert [(list(a), list(b)) for a, b in pairs] == sequences[:5]


# ---- errors -----------------------------------------------------------------------------------


def test_bad_input_is_refused(corpus, tmp_path):
    d = corpus.directory
    with pytest.raises(ValueError, match='"id"'):
        ParquetDataset(str(d), pack=Pack("id", 8, 2))  # an int64 column, not a list
    pa_dir = tmp_path / "strings"
    pa_dir.mkdir()
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"text": pa.array([["a", "b"], ["c"]]), "f": pa.array([[1.5], [2.0]])}),
        str(pa_dir / "x.parquet"),
    )
    with pytest.raises(ValueError, match='"text"'):
        ParquetDataset(str(pa_dir), pack=Pack("text", 8, 2))
    with pytest.raises(ValueError, match='"f"'):
        ParquetDataset(str(pa_dir), pack=Pack("f", 8, 2))
    with pytest.raises(ValueError, match="eos_token"):
        ParquetDataset(str(d), pack=Pack("input_ids", 8, 2, eos_token=2**31))
    with pytest.raises(ValueError, match="eos_token"):
        ParquetDataset(str(d), pack=Pack("input_ids", 8, 2, eos_token=-(2**31) - 1))
    with pytest.raises(ValueError, match="seq_len"):
        Pack("input_ids", 0, 2)
    with pytest.raises(ValueError, match="sequences_per_batch"):
        Pack("input_ids", 8, 0)
    with pytest.raises(ValueError, match="shuffle_window"):
        ParquetDataset(str(d), pack=Pack("input_ids", 8, 2), shuffle_window=16)
    with pytest.raises(ValueError, match="columns"):
        ParquetDataset(str(d), pack=Pack("input_ids", 8, 2), columns=["id"])
    with pytest.raises(ValueError, match="columns"):
        ParquetDataset(str(d), pack=Pack("input_ids", 8, 2), columns=["input_ids", "id"])
    with pytest.raises(ValueError, match="pack"):
        ParquetDataset(str(d), pack={"column": "input_ids"})

    packed = make_packed(d, Pack("input_ids", 8, 2))
    it = iter(packed)
    next(it)
    state = packed.state_dict()
    del it
    for unpacked in (
        ParquetDataset(str(d)),
        ParquetDataset(str(d), columns=["input_ids"]),
    ):
        with pytest.raises(ValueError, match="load_state_dict"):
            unpacked.load_state_dict(state)
    with pytest.raises(ValueError, match="pack"):
        make_packed(d, Pack("input_ids", 8, 4)).load_state_dict(state)
    # One DataLoader worker's state cannot move to another world size (at load_state_dict
    # or, at the latest, when iterating starts).
    worker_ds = make_packed(d, Pack("input_ids", 8, 2))
    it = worker_ds._iter_worker(0, 2)
    next(it)
    worker_state = worker_ds.state_dict()
    del it
    assert worker_state["worker"] == 0
    elastic = make_packed(d, Pack("input_ids", 8, 2), rank=0, world_size=2)
    with pytest.raises(ValueError, match="rank's state"):
        elastic.load_state_dict(worker_state)
        next(iter(elastic))
    unpacked_state = ParquetDataset(str(d), columns=["input_ids"]).state_dict()
    with pytest.raises(ValueError, match="load_state_dict"):
        make_packed(d, Pack("input_ids", 8, 2)).load_state_dict(unpacked_state)


def test_uint16_eos_range(tmp_path):
    write_corpus(tmp_path, [[3, None, 2]], [2], dtype=pa.uint16())
    for bad in (-1, 65536):
        with pytest.raises(ValueError, match="eos_token"):
            ParquetDataset(str(tmp_path), pack=Pack("input_ids", 4, 1, eos_token=bad))
    ds = ParquetDataset(str(tmp_path), pack=Pack("input_ids", 4, 1, eos_token=65535))
    got = [t for b in read(ds) for t in data_tokens(b)]
    assert got == [1, 2, 3, 65535, 65535, 4, 5, 65535]
