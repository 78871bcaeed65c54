"""``Mix``: packed datasets drawn in fixed proportions, one sequence at a time.

Every source's tokens lie in a range of their own (source ``i``'s are ``i * 10**6 + 1``
upwards), so each sequence's source can be told from its tokens. Checked: the ``source``
index of every sequence, every prefix within one sequence of its share, equal batch counts
for every (rank, worker), each source's sequences being exactly its own packing (epoch after
epoch when ``all_exhausted`` restarts it), determinism across processes, exact and elastic
resume, torchdata's StatefulDataLoader, torchrun ranks, and clear errors."""

from __future__ import annotations

import json
import pickle
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from dataset_helpers import (
    DATALOADER_MARKS,
    describe_exit,
    free_port,
    run_python_file,
    subprocess_env,
)
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
    write_corpus,
)
from torchdata.stateful_dataloader import StatefulDataLoader

from hf3fs.dataset import Mix, Pack, ParquetDataset

pytestmark = DATALOADER_MARKS

RANGE = 10**6  # source i's tokens: i * RANGE + 1 upwards
STOPS = ["first_exhausted", "all_exhausted"]


def examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


def source_of(token: int) -> int:
    return token // RANGE


def write_sources(base: Path, specs) -> list:
    """One corpus per spec ((files, group_rows, statistics)), in ``base/s{i}``."""
    return [
        write_corpus(base / f"s{i}", files, rows, first_token=i * RANGE + 1, statistics=stats)
        for i, (files, rows, stats) in enumerate(specs)
    ]


def make_mix(corpora, pack, *, weights=None, stop="first_exhausted", seed=0, epoch=0, **kw):
    """A Mix of the corpora (sources ``s0``, ``s1``, ...), each source's dataset with ``kw``
    (its shuffle seed its own)."""
    shuffle = kw.pop("shuffle", False)
    sources = {
        f"s{i}": make_packed(c.directory, pack, shuffle=shuffle, seed=100 + i, **kw)
        for i, c in enumerate(corpora)
    }
    if weights is not None:
        weights = {f"s{i}": w for i, w in enumerate(weights)}
    mix = Mix(sources, weights=weights, seed=seed, stop=stop)
    mix.set_epoch(epoch)
    return mix


def worker_batches(ds, workers: int) -> list[list[dict]]:
    if workers == 0:
        return [read(ds)]
    return [read(ds._iter_worker(w, workers)) for w in range(workers)]


def sequences(batches, source: int) -> list[tuple[list[int], list[int]]]:
    """(input_ids, position_ids) of every sequence of ``source``, in order."""
    out = []
    for b in batches:
        for i, s in enumerate(b["source"]):
            if s == source:
                out.append((b["input_ids"][i].tolist(), b["position_ids"][i].tolist()))
    return out


def all_sequences(batches) -> list[tuple[list[int], list[int]]]:
    return [
        (b["input_ids"][i].tolist(), b["position_ids"][i].tolist())
        for b in batches
        for i in range(len(b["input_ids"]))
    ]


def check_mixed_batches(batches, weights: list[float], doc_of, seq_len: int, spb: int) -> None:
    """Each sequence's ``source`` is where its tokens come from; every prefix of the stream
    holds each source within one sequence of its share."""
    counts = [0] * len(weights)
    t = 0
    for b in batches:
        check_structure(b, seq_len, spb, np.int32)
        assert b["num_tokens"] == seq_len * spb
        check_pieces(b, seq_len, doc_of, EOS)
        src = b["source"]
        assert src.dtype == np.int32 and src.shape == (spb,), (src.dtype, src.shape)
        for row, s in zip(b["input_ids"], src, strict=True):
            data = {source_of(int(x)) for x in row if x != EOS}
            assert data <= {int(s)}, f"a sequence of source {s} holds tokens of {data}"
            counts[int(s)] += 1
            t += 1
            for i, w in enumerate(weights):
                assert abs(counts[i] - t * w) < 1, (t, counts, weights)


# ---- the schedule, counts and each source's sequences ----------------------------------------


@examples(30)
@given(
    specs=st.lists(corpus_specs(max_files=2, max_docs=25, min_docs=3), min_size=2, max_size=3),
    raw_weights=st.lists(st.floats(0.2, 5.0), min_size=3, max_size=3),
    stop=st.sampled_from(STOPS),
    seq_len=st.integers(1, 8),
    spb=st.integers(1, 4),
    world=st.integers(1, 4),
    workers=st.integers(0, 3),
    shuffle=st.booleans(),
    epoch=st.integers(0, 2),
)
def test_mixture_schedule_and_sources(
    specs, raw_weights, stop, seq_len, spb, world, workers, shuffle, epoch
):
    pack = Pack("input_ids", seq_len, spb, eos_token=EOS)
    n = len(specs)
    with tempfile.TemporaryDirectory() as directory:
        corpora = write_sources(Path(directory), specs)
        doc_of = {t: d for c in corpora for t, d in c.doc_of.items()}
        references: dict[tuple, list] = {}

        def reference(j, rank, worker, e):
            """Source j's own sequences for (rank, worker) in epoch e."""
            key = (j, rank, worker, e if shuffle else 0)
            if key not in references:
                ds = make_packed(
                    corpora[j].directory,
                    pack,
                    shuffle=shuffle,
                    seed=100 + j,
                    rank=rank,
                    world_size=world,
                )
                ds.set_epoch(e)
                it = ds if workers == 0 else ds._iter_worker(worker, workers)
                references[key] = all_sequences(read(it))
            return references[key]

        counts = []
        seen: list[int] = []
        restarted = False
        for rank in range(world):
            mix = make_mix(
                corpora,
                pack,
                weights=raw_weights[:n],
                stop=stop,
                seed=3,
                epoch=epoch,
                shuffle=shuffle,
                rank=rank,
                world_size=world,
            )
            if any(len(reference(j, rank, 0, epoch)) == 0 for j in range(n)):
                # A source with no sequence for a (rank, worker) would end every epoch at
                # its first draw: the mixture refuses it (spans are equal, so all agree).
                with pytest.raises(ValueError, match="too few tokens"):
                    mix.info(num_workers=workers)
                event("a source too small for the cut: refused")
                return
            weights = list(mix.weights.values())
            assert mix.sources == [f"s{i}" for i in range(n)]
            assert abs(sum(weights) - 1) < 1e-9
            for w, raw in zip(weights, raw_weights, strict=False):
                assert abs(w - raw / sum(raw_weights[:n])) < 1e-9
            info = mix.info(num_workers=workers)
            assert info["batches_per_rank"] == mix.num_batches(num_workers=workers)
            assert info["stop"] == stop
            expect = len(mix) if workers == 0 else mix.num_batches(num_workers=workers) // workers
            drawn = [0] * n
            for worker, batches in enumerate(worker_batches(mix, workers)):
                counts.append(len(batches))
                assert len(batches) == expect, (rank, worker, len(batches), expect)
                check_mixed_batches(batches, weights, doc_of, seq_len, spb)
                seen += [t for b in batches for t in data_tokens(b) if t != EOS]
                finished = []
                for j in range(n):
                    mine = sequences(batches, j)
                    drawn[j] += len(mine)
                    epoch_seqs = reference(j, rank, worker, epoch)
                    size = len(epoch_seqs)
                    if stop == "first_exhausted":
                        assert len(mine) <= size
                    # Finished (but for a last batch the stop cut short, which is dropped).
                    finished.append(len(mine) + spb > size)
                    # Epoch after epoch of the source's own packing (a restart goes on with
                    # the source's next epoch).
                    for c, at in enumerate(range(0, len(mine), max(size, 1))):
                        chunk = mine[at : at + size]
                        if c > 0:
                            restarted = True
                        if c < 3 or not shuffle:
                            want = reference(j, rank, worker, epoch + c)
                            assert chunk == want[: len(chunk)], (j, c)
                        tokens = [t for ids, _ in chunk for t in ids if t != EOS]
                        assert len(tokens) == len(set(tokens)), "a token twice in one epoch"
                # The mixture ends when a source runs out, or when all have finished once.
                if stop == "first_exhausted":
                    assert any(finished), (rank, worker, finished)
                else:
                    assert all(finished), (rank, worker, finished)
            for j in range(n):
                assert info["samples_per_rank"][f"s{j}"] == drawn[j], (info, drawn)
        assert len(set(counts)) == 1, counts
        if stop == "first_exhausted":
            assert len(seen) == len(set(seen)), "a token was drawn twice"
        event(f"{stop}: {'0' if counts[0] == 0 else 'some'} batches, restarted={restarted}")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """Three sources of different sizes."""
    rng = np.random.default_rng(12)
    base = tmp_path_factory.mktemp("mix")
    specs = []
    for files, docs in ((3, 40), (2, 30), (1, 25)):
        lengths = [
            [int(n) if n >= 0 else None for n in rng.integers(-2, 45, size=docs)]
            for _ in range(files)
        ]
        specs.append((lengths, [7, 5, 11][:files], True))
    return write_sources(base, specs)


PACK = Pack("input_ids", 8, 2, eos_token=EOS)
WEIGHTS = [0.5, 0.3, 0.2]


def test_is_an_iterable_dataset(corpora):
    from torch.utils.data import IterableDataset

    mix = make_mix(corpora, PACK, weights=WEIGHTS)
    assert isinstance(mix, IterableDataset)
    assert "Mix(" in repr(mix)
    assert mix.weights == {"s0": 0.5, "s1": 0.3, "s2": 0.2}
    equal = make_mix(corpora, PACK)  # default: equal weights
    assert list(equal.weights.values()) == pytest.approx([1 / 3] * 3)


# ---- determinism ------------------------------------------------------------------------------

DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import json, sys

    from hf3fs.dataset import Mix, Pack, ParquetDataset

    dirs, out = sys.argv[1:4], sys.argv[4]
    pack = Pack("input_ids", 8, 2, eos_token=0)
    sources = {
        f"s{i}": ParquetDataset(d, pack=pack, shuffle=True, seed=100 + i, rank=1, world_size=2)
        for i, d in enumerate(dirs)
    }
    mix = Mix(sources, weights={"s0": 0.5, "s1": 0.3, "s2": 0.2}, seed=7, stop="all_exhausted")
    mix.set_epoch(1)
    batches = [
        {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in b.items()} for b in mix
    ]
    with open(out, "w") as f:
        json.dump(batches, f)
    """
)


@pytest.mark.slow
def test_deterministic_across_runs_and_processes(corpora, tmp_path):
    def run():
        mix = make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            stop="all_exhausted",
            seed=7,
            epoch=1,
            shuffle=True,
            rank=1,
            world_size=2,
        )
        return read(mix)

    first = run()
    assert len(first) > 0
    assert_batches_equal(run(), first)
    script = tmp_path / "mix.py"
    script.write_text(DETERMINISM_SCRIPT)
    out = tmp_path / "batches.json"
    proc = run_python_file(script, *(str(c.directory) for c in corpora), str(out), timeout=120)
    assert proc.returncode == 0, describe_exit(proc)
    other = json.loads(out.read_text())
    assert len(other) == len(first)
    for i, (a, b) in enumerate(zip(other, first, strict=True)):
        assert sorted(a) == sorted(b)
        for key in b:
            got = a[key]
            want = b[key].tolist() if isinstance(b[key], np.ndarray) else b[key]
            assert got == want, (i, key)
    # Another seed or epoch: another schedule or shuffle.
    other_epoch = read(
        make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            stop="all_exhausted",
            seed=7,
            epoch=2,
            shuffle=True,
            rank=1,
            world_size=2,
        )
    )
    assert [b["input_ids"].tolist() for b in other_epoch] != [
        b["input_ids"].tolist() for b in first
    ]


# ---- resume -----------------------------------------------------------------------------------


def plain(state: dict) -> dict:
    copy = json.loads(json.dumps(state))
    assert copy == state
    return copy


@pytest.mark.parametrize("stop", STOPS)
def test_resume_in_process(corpora, stop):
    def fresh():
        return make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            stop=stop,
            seed=1,
            epoch=1,
            shuffle=True,
            rank=0,
            world_size=2,
        )

    full = read(fresh())
    assert len(full) > 6
    for k in (0, 1, 5, len(full) - 1, len(full)):
        mix = fresh()
        it = iter(mix)
        first = read(next(it) for _ in range(k))
        state = plain(mix.state_dict())
        del it
        resumed = fresh()
        resumed.load_state_dict(state)
        assert_batches_equal(first + read(resumed), full, f"{stop} k={k}")


@pytest.mark.parametrize("stop", STOPS)
@pytest.mark.parametrize("workers", [2, 3])
def test_rank_state_for_workers(corpora, stop, workers):
    def fresh():
        return make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            stop=stop,
            seed=2,
            shuffle=True,
            rank=1,
            world_size=2,
        )

    full = read(interleave([fresh()._iter_worker(w, workers) for w in range(workers)]))
    assert len(full) == fresh().num_batches(num_workers=workers)
    for k in (0, 1, 4, len(full) - 1, len(full)):
        state = plain(fresh().state_dict(batches=k, num_workers=workers))
        resumed = fresh()
        resumed.load_state_dict(state)
        blob = pickle.dumps(resumed)
        copies = [pickle.loads(blob) for _ in range(workers)]
        rest = read(interleave([c._iter_worker(w, workers) for w, c in enumerate(copies)]))
        assert_batches_equal(rest, full[k:], f"{stop} k={k}")


@pytest.mark.slow
@pytest.mark.timeout(300)
# torchdata 0.11 calls torch.set_vital, which newer torch deprecates.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize(
    "stop, k", [("first_exhausted", 3), ("all_exhausted", 1), ("all_exhausted", 6)]
)
def test_stateful_dataloader_resume(corpora, stop, k):
    def mix(fmt):
        return make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            stop=stop,
            seed=5,
            shuffle=True,
            format=fmt,
        )

    def loader():
        return StatefulDataLoader(mix("torch"), batch_size=None, num_workers=2)

    full = read(loader())
    model = mix("numpy")
    assert_batches_equal(full, read(interleave([model._iter_worker(w, 2) for w in range(2)])))
    assert len(full) > k

    interrupted = loader()
    it = iter(interrupted)
    first = read(next(it) for _ in range(k))
    state = interrupted.state_dict()
    del it

    resumed = loader()
    resumed.load_state_dict(state)
    assert_batches_equal(first + read(resumed), full, f"{stop} k={k}")


@pytest.mark.parametrize("mode", ["main-process", "rank-level"])
@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
def test_elastic_resume_first_exhausted(corpora, shuffle, mode):
    old_world, new_world, k = 2, 3, 3

    def make(rank, world):
        return make_mix(
            corpora,
            PACK,
            weights=WEIGHTS,
            seed=4,
            shuffle=shuffle,
            rank=rank,
            world_size=world,
        )

    before: list[dict] = []
    states = []
    for rank in range(old_world):
        if mode == "main-process":
            mix = make(rank, old_world)
            it = iter(mix)
            before += read(next(it) for _ in range(k))
            states.append(plain(mix.state_dict()))
            del it
        else:
            full = interleave([make(rank, old_world)._iter_worker(w, 2) for w in range(2)])
            before += read(full[:k])
            states.append(plain(make(rank, old_world).state_dict(batches=k, num_workers=2)))
    assert len(before) == old_world * k
    assert all(s == states[0] for s in states), "every rank's state is the same"

    doc_of = {t: d for c in corpora for t, d in c.doc_of.items()}
    new_workers = 0 if mode == "main-process" else 2
    counts = []
    after: list[dict] = []
    for rank in range(new_world):
        mix = make(rank, new_world)
        mix.load_state_dict(states[0])
        for batches in worker_batches(mix, new_workers):
            counts.append(len(batches))
            check_mixed_batches(batches, list(mix.weights.values()), doc_of, 8, 2)
            after += batches
    assert len(set(counts)) == 1 and counts[0] > 0, counts
    tokens = [t for b in before + after for t in data_tokens(b) if t != EOS]
    assert len(tokens) == len(set(tokens)), "a token was drawn twice"


def test_elastic_resume_after_a_restart_is_refused(corpora):
    # s2 (the smallest source) at a large weight restarts within the first batches.
    def make(rank, world):
        return make_mix(
            corpora,
            PACK,
            weights=[0.1, 0.1, 0.8],
            stop="all_exhausted",
            rank=rank,
            world_size=world,
        )

    spb = PACK.sequences_per_batch
    epoch_size = len(make_packed(corpora[2].directory, PACK, rank=0, world_size=2)) * spb
    k = int((epoch_size + 2) / 0.8 / spb) + 2  # batches: s2 is restarted by then
    mix = make(0, 2)
    assert mix.num_batches() > k
    state = plain(mix.state_dict(batches=k, num_workers=1))
    same = make(1, 2)
    same.load_state_dict(state)  # the same world: fine
    assert len(read(same)) == mix.num_batches() - k
    elastic = make(0, 3)
    with pytest.raises(ValueError, match="restarted"):
        elastic.load_state_dict(state)
    # Before any restart an all_exhausted state moves to another world size.
    early = plain(make(0, 2).state_dict(batches=1, num_workers=1))
    moved = make(0, 3)
    moved.load_state_dict(early)
    assert len(read(moved)) > 0


# ---- torchrun -----------------------------------------------------------------------------------

TORCHRUN_SCRIPT = textwrap.dedent(
    """
    import json, os, sys

    import torch.distributed as dist

    from hf3fs.dataset import Mix, Pack, ParquetDataset

    web, code, result_path = sys.argv[1], sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    # Only torch.distributed may tell the datasets their rank from here on.
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        os.environ.pop(name, None)

    pack = Pack("input_ids", 8, 2, eos_token=0)
    sources = {
        "web": ParquetDataset(web, pack=pack, shuffle=True, seed=1, prefetch_bytes=4 << 20),
        "code": ParquetDataset(code, pack=pack, shuffle=True, seed=2, prefetch_bytes=4 << 20),
    }
    mix = Mix(sources, weights={"web": 0.7, "code": 0.3}, seed=3, stop="first_exhausted")
    mix.set_epoch(1)
    assert (mix.rank, mix.world_size) == (rank, world), (mix.rank, mix.world_size)
    tokens, sources_seen, worst = [], [], 0.0
    counts = [0, 0]
    for batch in mix:
        for row, s in zip(batch["input_ids"], batch["source"]):
            data = [int(t) for t in row if t != 0]
            assert all(t // 1000000 == int(s) for t in data), (s, data)
            tokens += data
            sources_seen.append(int(s))
            counts[int(s)] += 1
            t = sum(counts)
            worst = max(worst, abs(counts[0] - 0.7 * t), abs(counts[1] - 0.3 * t))
    mine = {
        "rank": rank, "tokens": tokens, "sources": sources_seen, "batches": len(sources_seen) // 2,
        "len": len(mix), "worst": worst,
    }
    gathered = [None] * world
    dist.all_gather_object(gathered, mine)
    if rank == 0:
        assert [g["rank"] for g in gathered] == list(range(world))
        assert len({g["batches"] for g in gathered}) == 1, [g["batches"] for g in gathered]
        assert all(g["len"] == g["batches"] for g in gathered)
        everything = [t for g in gathered for t in g["tokens"]]
        assert len(everything) == len(set(everything)), "a token twice"
        assert all(g["worst"] < 1 for g in gathered), [g["worst"] for g in gathered]
        with open(result_path, "w") as f:
            json.dump({"world": world, "ranks": gathered}, f)
    dist.barrier()
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_two_ranks(tmp_path):
    rng = np.random.default_rng(9)
    web = write_corpus(
        tmp_path / "web",
        [[int(n) for n in rng.integers(0, 40, size=80)] for _ in range(2)],
        [9, 6],
        first_token=1,
    )
    code = write_corpus(
        tmp_path / "code",
        [[int(n) for n in rng.integers(0, 30, size=50)]],
        [8],
        first_token=RANGE + 1,
    )
    script = tmp_path / "train.py"
    script.write_text(TORCHRUN_SCRIPT)
    result = tmp_path / "result.json"
    env = subprocess_env(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    proc = run_python_file(
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        str(web.directory),
        str(code.directory),
        str(result),
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, describe_exit(proc)
    report = json.loads(result.read_text())
    assert report["world"] == 2
    ranks = report["ranks"]
    assert ranks[0]["batches"] == ranks[1]["batches"] > 0
    tokens = [t for r in ranks for t in r["tokens"]]
    assert len(tokens) == len(set(tokens))
    assert set(tokens) <= web.tokens | code.tokens
    assert {t for t in tokens if t < RANGE} and {t for t in tokens if t > RANGE}
    assert ranks[0]["tokens"] != ranks[1]["tokens"]
    for r in ranks:
        assert r["worst"] < 1
        n = len(r["sources"])
        assert abs(r["sources"].count(1) - 0.3 * n) < 1


# ---- errors -----------------------------------------------------------------------------------


def test_bad_mixtures_are_refused(corpora):
    d0, d1 = corpora[0].directory, corpora[1].directory

    def packed(d, pack=PACK, **kw):
        return make_packed(d, pack, **kw)

    with pytest.raises(ValueError, match="packed datasets or unpacked ones"):
        Mix({"a": packed(d0), "b": ParquetDataset(str(d1))})
    with pytest.raises(ValueError, match="same pack"):
        Mix({"a": packed(d0), "b": packed(d1, Pack("input_ids", 4, 2, eos_token=EOS))})
    with pytest.raises(ValueError, match="same pack"):
        Mix({"a": packed(d0), "b": packed(d1, Pack("input_ids", 8, 1, eos_token=EOS))})
    with pytest.raises(ValueError, match="drop_partial"):
        Mix(
            {
                "a": packed(d0),
                "b": packed(d1, Pack("input_ids", 8, 2, eos_token=EOS, drop_partial=False)),
            }
        )
    with pytest.raises(ValueError, match="weights"):
        Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 1.0, "c": 1.0})
    with pytest.raises(ValueError, match="weights"):
        Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 1.0})
    for bad in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="weight"):
            Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 1.0, "b": bad})
    with pytest.raises(ValueError, match="stop"):
        Mix({"a": packed(d0), "b": packed(d1)}, stop="never")
    with pytest.raises(ValueError, match="rank"):
        Mix({"a": packed(d0), "b": packed(d1, rank=1, world_size=2)})
    with pytest.raises(ValueError, match="format"):
        Mix({"a": packed(d0), "b": packed(d1, format="torch")})
    with pytest.raises(ValueError):
        Mix({})

    mix = Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 0.7, "b": 0.3})
    it = iter(mix)
    next(it)
    state = mix.state_dict()
    del it
    other = Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 0.6, "b": 0.4})
    with pytest.raises(ValueError, match="weights"):
        other.load_state_dict(state)
    # Weights compare once normalized: 1:2 is 2:4.
    ratio = Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 1.0, "b": 2.0})
    it = iter(ratio)
    next(it)
    saved = ratio.state_dict()
    del it
    scaled = Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 2.0, "b": 4.0})
    scaled.load_state_dict(saved)
    assert len(list(scaled)) == len(ratio) - 1
    renamed = Mix({"a": packed(d0), "c": packed(d1)}, weights={"a": 0.7, "c": 0.3})
    with pytest.raises(ValueError, match="load_state_dict"):
        renamed.load_state_dict(state)
    changed = Mix(
        {"a": packed(d0), "b": packed(corpora[2].directory)}, weights={"a": 0.7, "b": 0.3}
    )
    with pytest.raises(ValueError, match="differs"):
        changed.load_state_dict(state)
    with pytest.raises(ValueError, match="Mix state"):
        Mix({"a": packed(d0), "b": packed(d1)}, weights={"a": 0.7, "b": 0.3}).load_state_dict(
            packed(d0).state_dict()
        )
    with pytest.raises(ValueError, match="load_state_dict"):
        packed(d0).load_state_dict(state)


def test_unpacked_sources_mix_rows(corpora):
    """Sources without pack mix row by row: a `source` column, each row once, proportions."""
    d0, d1 = corpora[0].directory, corpora[1].directory

    def rows(d):
        return ParquetDataset(str(d), columns=["id", "input_ids"], batch_size=8, seed=1)

    def make():
        return Mix({"a": rows(d0), "b": rows(d1)}, weights={"a": 0.25, "b": 0.75}, seed=2)

    mix = make()
    batches = list(mix)
    assert len(batches) == len(mix) > 0
    counts = [0, 0]
    seen = set()
    own = [[int(i) for b in rows(d) for i in b["id"]] for d in (d0, d1)]
    taken: list[list[int]] = [[], []]
    for k, b in enumerate(batches):
        assert len(b["source"]) == 8 and b["source"].dtype == np.int32
        values, offsets = b["input_ids"]
        assert len(offsets) == 9
        for r, s in enumerate(b["source"]):
            taken[int(s)].append(int(b["id"][r]))
            tokens = values[offsets[r] : offsets[r + 1]]
            assert all(source_of(int(t)) == int(s) for t in tokens if t != EOS)
            assert (int(s), int(b["id"][r])) not in seen
            seen.add((int(s), int(b["id"][r])))
            counts[int(s)] += 1
        drawn = 8 * (k + 1)
        assert abs(counts[0] - 0.25 * drawn) < 1 and abs(counts[1] - 0.75 * drawn) < 1
    # Each source's rows come in that source's own order.
    for j in (0, 1):
        assert taken[j] == own[j][: len(taken[j])]
    resumed = make()
    it = iter(make())
    first = [next(it) for _ in range(3)]
    state = make().state_dict(batches=3, num_workers=1)
    del it
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(first) + len(rest) == len(batches)
    for x, y in zip(rest, batches[3:], strict=True):
        assert (x["id"] == y["id"]).all() and (x["source"] == y["source"]).all()
    with pytest.raises(ValueError, match="same pack"):
        Mix({"a": rows(d0), "b": ParquetDataset(str(d1), columns=["id"], batch_size=8)})


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_spawned_dataloader_workers_mix_like_in_process_ones(corpora):
    """Spawned workers get the mixture (and a loaded state) by pickling: the same batches."""
    from torch.utils.data import DataLoader

    def make():
        return make_mix(corpora, PACK, weights=WEIGHTS, format="torch")

    order = interleave(worker_batches(make(), 2))
    loader = DataLoader(make(), batch_size=None, num_workers=2, multiprocessing_context="spawn")
    assert_batches_equal(read(loader), order, "spawn")
    # A state loaded before the workers start travels with the pickled mixture.
    state = make().state_dict(batches=3, num_workers=2)
    resumed = make()
    resumed.load_state_dict(state)
    loader = DataLoader(resumed, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    assert_batches_equal(read(loader), order[3:], "spawn after a resume")
