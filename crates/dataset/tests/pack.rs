//! Packing and mixing through the whole reader, against a reference packer
//! written from the definition: documents in plan order (each with its EOS),
//! cut into `seq_len` sequences, pieces restarting their positions at every
//! document and sequence start; spans of equal whole batches per (rank,
//! worker); resume and elastic resume that yield every remaining token once.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use dataset::filter::{CmpOp, Predicate, Scalar};
use dataset::mix::{MixOptions, MixedBatch, Mixture, Stop};
use dataset::pack::{PackOptions, PackedBatch};
use dataset::source::SourceOptions;
use dataset::{Dataset, DatasetOptions, EpochPosition};
use hf3fs_core::CancelToken;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use proptest::prelude::*;

const EOS: i32 = -1;

/// A corpus: per file, its documents (None: a null row); tokens are unique
/// positive numbers, `base` upwards.
fn write(
    dir: &std::path::Path,
    files: &[Vec<usize>],
    group_rows: usize,
    stats: EnabledStatistics,
    base: i32,
) -> Vec<Vec<Option<Vec<i32>>>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("doc", DataType::Int64, false),
        Field::new(
            "input_ids",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
            true,
        ),
    ]));
    let mut next = base;
    let mut doc = 0i64;
    let mut out = Vec::new();
    for (f, lengths) in files.iter().enumerate() {
        let mut docs = Vec::new();
        let mut builder = ListBuilder::new(Int32Builder::new());
        let mut ids = Vec::new();
        for &len in lengths {
            ids.push(doc);
            doc += 1;
            if len == 7 {
                builder.append_null();
                docs.push(None);
                continue;
            }
            let tokens: Vec<i32> = (next..next + len as i32).collect();
            next += len as i32;
            for &t in &tokens {
                builder.values().append_value(t);
            }
            builder.append(true);
            docs.push(Some(tokens));
        }
        let columns: Vec<ArrayRef> =
            vec![Arc::new(Int64Array::from(ids)), Arc::new(builder.finish())];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group_rows.max(1)))
            .set_statistics_enabled(stats)
            .build();
        let file = std::fs::File::create(dir.join(format!("part-{f:02}.parquet"))).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out.push(docs);
    }
    out
}

fn open(dir: &std::path::Path, options: DatasetOptions) -> Dataset {
    Dataset::open(
        &[dir.to_string_lossy().into_owned()],
        &SourceOptions::default(),
        options,
        &CancelToken::never(),
    )
    .unwrap()
}

fn pack(seq_len: usize, spb: usize, eos: bool, drop_partial: bool) -> PackOptions {
    PackOptions {
        column: "input_ids".into(),
        seq_len,
        sequences_per_batch: spb,
        eos_token: eos.then_some(EOS as i64),
        drop_partial,
    }
}

/// The epoch's token stream as (token, document) pairs, in plan order.
fn stream(
    ds: &Dataset,
    docs: &[Vec<Option<Vec<i32>>>],
    group_rows: usize,
    epoch: u64,
    eos: bool,
) -> Vec<(i32, usize)> {
    // Groups in dataset order: each file's documents cut every `group_rows`.
    let mut groups: Vec<Vec<(usize, Vec<i32>)>> = Vec::new();
    let mut uid = 0;
    for file in docs {
        for chunk in file.chunks(group_rows.max(1)) {
            groups.push(
                chunk
                    .iter()
                    .map(|d| {
                        uid += 1;
                        (uid, d.clone().unwrap_or_default())
                    })
                    .collect(),
            );
        }
    }
    assert_eq!(groups.len(), ds.group_units().len());
    let mut out = Vec::new();
    for &g in ds.layout(epoch).order() {
        for (uid, tokens) in &groups[g] {
            out.extend(tokens.iter().map(|&t| (t, *uid)));
            if eos {
                out.push((EOS, *uid));
            }
        }
    }
    out
}

/// (tokens, positions, cu_seqlens) the definition gives for `part`.
fn reference(part: &[(i32, usize)], seq_len: usize) -> (Vec<i32>, Vec<i64>, Vec<Vec<i32>>) {
    let mut positions = Vec::new();
    let mut cu = Vec::new();
    for seq in part.chunks(seq_len) {
        let mut bounds = vec![0];
        let mut pos = 0;
        for (i, &(_, doc)) in seq.iter().enumerate() {
            if i > 0 && doc != seq[i - 1].1 {
                bounds.push(i as i32);
                pos = 0;
            }
            positions.push(pos);
            pos += 1;
        }
        bounds.push(seq.len() as i32);
        cu.push(bounds);
    }
    (part.iter().map(|t| t.0).collect(), positions, cu)
}

/// A batch's tokens and positions, flattened, and its cu_seqlens split per
/// sequence (each from 0).
fn flatten(b: &PackedBatch, seq_len: usize) -> (Vec<i32>, Vec<i64>, Vec<Vec<i32>>) {
    let ids = b.input_ids.as_fixed_size_list();
    let tokens = ids.values().as_primitive::<Int32Type>().values().to_vec();
    let pos = b.position_ids.as_fixed_size_list();
    let positions = pos.values().as_primitive::<Int64Type>().values().to_vec();
    let cu: Vec<i32> = b.cu_seqlens.as_primitive::<Int32Type>().values().to_vec();
    assert_eq!(cu[0], 0);
    assert_eq!(*cu.last().unwrap() as usize, tokens.len());
    let max = cu.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert_eq!(max as usize, b.max_seqlen);
    let mut per_seq = Vec::new();
    for s in 0..tokens.len() / seq_len {
        let (lo, hi) = ((s * seq_len) as i32, ((s + 1) * seq_len) as i32);
        assert!(
            cu.contains(&lo) && cu.contains(&hi),
            "a piece crosses a sequence boundary: {cu:?}"
        );
        per_seq.push(
            cu.iter()
                .filter(|&&c| c >= lo && c <= hi)
                .map(|c| c - lo)
                .collect(),
        );
    }
    (tokens, positions, per_seq)
}

fn read_all(reader: &mut dataset::pack::source::PackedReader) -> Vec<PackedBatch> {
    let mut out = Vec::new();
    while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
        out.push(b);
    }
    out
}

/// Every (rank, worker)'s batches of `progress`, in span order.
fn read_spans(
    ds: &Dataset,
    progress: &EpochPosition,
    world: u64,
    workers: u64,
) -> Vec<Vec<PackedBatch>> {
    let mut spans = Vec::new();
    for rank in 0..world {
        for worker in 0..workers {
            spans.push(read_all(
                &mut ds.packed_reader(progress, rank, worker).unwrap(),
            ));
        }
    }
    spans
}

fn lengths() -> impl Strategy<Value = Vec<Vec<usize>>> {
    let len = prop_oneof![
        Just(0usize),
        1usize..6,
        6usize..40,
        40usize..120,
        Just(7usize)
    ];
    proptest::collection::vec(proptest::collection::vec(len, 0..60), 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn packed_spans_are_equal_complete_and_match_the_reference(
        files in lengths(), group_rows in 1usize..12, seq_len in 1usize..16, spb in 1usize..3,
        eos: bool, drop_partial: bool, shuffle: bool, world in 1u64..=8, workers in 1u64..=4,
        stats in prop_oneof![Just(EnabledStatistics::None), Just(EnabledStatistics::Chunk), Just(EnabledStatistics::Page)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let docs = write(dir.path(), &files, group_rows, stats, 1);
        let ds = open(dir.path(), DatasetOptions {
            pack: Some(pack(seq_len, spb, eos, drop_partial)),
            shuffle,
            seed: 9,
            batch_size: 5,
            ..DatasetOptions::default()
        });
        let epoch = 1;
        let all = stream(&ds, &docs, group_rows, epoch, eos);
        prop_assert_eq!(all.len() as u64, ds.num_units());
        let progress = ds.start(epoch, world, workers);
        let span = ds.span_units(&progress) as usize;
        let parts = (world * workers) as usize;
        let batch_tokens = seq_len * spb;
        prop_assert_eq!(ds.left_out(&progress) as usize, all.len() - span * parts);
        if drop_partial {
            prop_assert!(ds.left_out(&progress) < (parts * batch_tokens) as u64);
            prop_assert_eq!(span % batch_tokens, 0);
        } else {
            prop_assert!(ds.left_out(&progress) < parts as u64);
        }
        let spans = read_spans(&ds, &progress, world, workers);
        let expect_batches = ds.batches_per_worker(&progress) as usize;
        for (i, batches) in spans.iter().enumerate() {
            prop_assert_eq!(batches.len(), expect_batches, "span {}", i);
            let part = &all[i * span..(i + 1) * span];
            let (tokens, positions, cu) = reference(part, seq_len);
            let (mut got_t, mut got_p, mut got_cu) = (Vec::new(), Vec::new(), Vec::new());
            let mut real = 0;
            for b in batches {
                prop_assert_eq!(b.input_ids.len(), spb);
                let (t, p, c) = flatten(b, seq_len);
                real += b.num_tokens;
                got_t.extend_from_slice(&t[..b.num_tokens]);
                got_p.extend_from_slice(&p[..b.num_tokens]);
                got_cu.extend(c);
                if b.num_tokens < t.len() {
                    prop_assert!(!drop_partial);
                    let pad = if eos { EOS } else { 0 };
                    prop_assert!(t[b.num_tokens..].iter().all(|&x| x == pad));
                }
            }
            prop_assert_eq!(real, span);
            prop_assert_eq!(&got_t, &tokens);
            prop_assert_eq!(&got_p, &positions);
            // Sequences of data only compare whole (the padded one has a pad piece).
            let whole = span / seq_len;
            prop_assert_eq!(&got_cu[..whole], &cu[..whole]);
        }
    }

    #[test]
    fn resume_and_elastic_resume_yield_the_rest_once(
        files in lengths(), group_rows in 1usize..12, seq_len in 1usize..20, spb in 1usize..3,
        shuffle: bool, old_world in 1u64..5, new_world in 1u64..5, workers in 1u64..3, k in 0u64..6,
    ) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &files, group_rows, EnabledStatistics::Chunk, 1);
        let ds = open(dir.path(), DatasetOptions {
            pack: Some(pack(seq_len, spb, true, true)),
            shuffle,
            seed: 3,
            ..DatasetOptions::default()
        });
        let start = ds.start(0, old_world, workers);
        let tokens_of = |batches: &[PackedBatch]| -> Vec<i32> {
            batches.iter().flat_map(|b| flatten(b, seq_len).0).collect()
        };
        // Exact: after k batches of a rank (round-robin over its workers),
        // each worker goes on with its next batch.
        let full = read_spans(&ds, &start, old_world, workers);
        let after = ds.after_batches(&start, k);
        let mut before: Vec<i32> = Vec::new();
        for rank in 0..old_world {
            for w in 0..workers {
                let index = (rank * workers + w) as usize;
                let taken = (k / workers + u64::from(w < k % workers)) as usize;
                let taken = taken.min(full[index].len());
                before.extend(tokens_of(&full[index][..taken]));
                // The resumed DataLoader asks worker 0 first: rotation maps it.
                let worker = (w + workers - after.rotation) % workers;
                let rest = read_all(&mut ds.packed_reader(&after, rank, worker).unwrap());
                prop_assert_eq!(tokens_of(&rest), tokens_of(&full[index][taken..]));
            }
        }
        // Elastic: the tokens not consumed, re-cut among new_world ranks.
        let moved = ds.resume(&after, new_world, 1, 0).unwrap();
        let spans = read_spans(&ds, &moved, new_world, 1);
        let counts: Vec<usize> = spans.iter().map(Vec::len).collect();
        prop_assert!(counts.windows(2).all(|w| w[0] == w[1]), "{:?}", counts);
        let mut seen: HashSet<i32> = HashSet::new();
        for t in before.iter().chain(spans.iter().flat_map(|s| tokens_of(s)).collect::<Vec<_>>().iter()) {
            if *t != EOS {
                prop_assert!(seen.insert(*t), "token {} twice", t);
            }
        }
        if moved.base.is_some() {
            let rest_total = dataset::plan::intervals_len(moved.base.as_ref().unwrap());
            let read_after: usize = spans.iter().map(|s| tokens_of(s).len()).sum();
            prop_assert_eq!(read_after as u64 + ds.left_out(&moved), rest_total);
            // Only the new cut leaves tokens out: the old one's are in the rest.
            prop_assert_eq!((before.len() + read_after) as u64 + ds.left_out(&moved), ds.num_units());
        }
    }
}

#[test]
fn filters_count_tokens_by_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![(0..60).map(|i| i % 13).collect::<Vec<usize>>()];
    let docs = write(dir.path(), &files, 16, EnabledStatistics::Chunk, 1);
    let ds = open(
        dir.path(),
        DatasetOptions {
            pack: Some(pack(8, 2, true, false)),
            filter: Some(Predicate::Compare {
                column: "doc".into(),
                op: CmpOp::Ge,
                value: Scalar::Int(20),
            }),
            ..DatasetOptions::default()
        },
    );
    let expect: usize = docs[0][20..]
        .iter()
        .map(|d| d.as_ref().map_or(0, Vec::len) + 1)
        .sum();
    assert_eq!(ds.num_units() as usize, expect);
    let batches = read_all(&mut ds.packed_reader(&ds.start(0, 1, 1), 0, 0).unwrap());
    let tokens: usize = batches.iter().map(|b| b.num_tokens).sum();
    assert_eq!(tokens, expect);
}

#[test]
fn packing_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[vec![3, 4]], 4, EnabledStatistics::Chunk, 1);
    let try_open = |options: DatasetOptions| {
        Dataset::open(
            &[dir.path().to_string_lossy().into_owned()],
            &SourceOptions::default(),
            options,
            &CancelToken::never(),
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let with = |p: PackOptions| DatasetOptions {
        pack: Some(p),
        ..DatasetOptions::default()
    };
    let e = try_open(with(PackOptions {
        column: "doc".into(),
        ..pack(4, 1, false, true)
    }));
    assert!(
        e.contains("\"doc\"") && e.contains("list (or large list) of integer tokens"),
        "{e}"
    );
    let e = try_open(with(PackOptions {
        eos_token: Some(1 << 40),
        ..pack(4, 1, false, true)
    }));
    assert!(e.contains("eos_token"), "{e}");
    let e = try_open(DatasetOptions {
        shuffle_window: 10,
        ..with(pack(4, 1, false, true))
    });
    assert!(e.contains("shuffle_window"), "{e}");
    let e = try_open(DatasetOptions {
        columns: Some(vec!["doc".into()]),
        ..with(pack(4, 1, false, true))
    });
    assert!(e.contains("columns"), "{e}");
    let e = try_open(with(pack(0, 1, false, true)));
    assert!(e.contains("seq_len"), "{e}");
}

/// Two packed sources: tokens of `web` are positive, of `code` above 1e6.
fn mixture(dir: &std::path::Path, stop: Stop, weights: [f64; 2]) -> Mixture {
    let (web, code) = (dir.join("web"), dir.join("code"));
    std::fs::create_dir_all(&web).unwrap();
    std::fs::create_dir_all(&code).unwrap();
    write(
        &web,
        &[(0..90).map(|i| (i * 7) % 23).collect()],
        10,
        EnabledStatistics::Chunk,
        1,
    );
    write(
        &code,
        &[(0..40).map(|i| (i * 5) % 17 + 1).collect()],
        6,
        EnabledStatistics::Chunk,
        1_000_000,
    );
    let options = DatasetOptions {
        pack: Some(pack(6, 4, true, true)),
        shuffle: true,
        ..DatasetOptions::default()
    };
    Mixture::new(
        vec![open(&web, options.clone()), open(&code, options)],
        MixOptions {
            weights: weights.to_vec(),
            stop,
            seed: 1,
        },
    )
    .unwrap()
}

fn mixed_batches(
    m: &Mixture,
    progress: &dataset::mix::MixPosition,
    rank: u64,
    worker: u64,
) -> Vec<PackedBatch> {
    let mut reader = m.reader(progress, rank, worker).unwrap();
    let mut out = Vec::new();
    while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
        match b {
            MixedBatch::Packed(b) => out.push(b),
            MixedBatch::Rows(_) => panic!("a packed mixture gave rows"),
        }
    }
    out
}

#[test]
fn row_mixtures_interleave_rows_with_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write(&a, &[vec![2; 100]], 16, EnabledStatistics::Chunk, 1);
    write(
        &b,
        &[vec![3; 50], vec![1; 30]],
        9,
        EnabledStatistics::Chunk,
        1_000_000,
    );
    let options = DatasetOptions {
        batch_size: 10,
        shuffle: true,
        ..DatasetOptions::default()
    };
    let m = Mixture::new(
        vec![open(&a, options.clone()), open(&b, options)],
        MixOptions {
            weights: vec![1.0, 3.0],
            stop: Stop::FirstExhausted,
            seed: 0,
        },
    )
    .unwrap();
    let start = m.start(0, 1, 1);
    let read = |p: &dataset::mix::MixPosition| {
        let mut reader = m.reader(p, 0, 0).unwrap();
        let mut out = Vec::new();
        while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
            match b {
                MixedBatch::Rows(b) => out.push(b),
                MixedBatch::Packed(_) => panic!("a row mixture gave sequences"),
            }
        }
        out
    };
    let batches = read(&start);
    // b has 80 rows at weight 3/4: it runs out after about 106 rows.
    assert_eq!(batches.len() as u64, m.batches_per_worker(&start).unwrap());
    assert_eq!(batches.len(), 10);
    let mut counts = [0.0f64; 2];
    let mut docs = HashSet::new();
    for (k, batch) in batches.iter().enumerate() {
        assert_eq!(batch.num_rows(), 10);
        let source = batch
            .column_by_name("source")
            .unwrap()
            .as_primitive::<Int32Type>();
        let tokens = batch.column_by_name("input_ids").unwrap().as_list::<i32>();
        for r in 0..batch.num_rows() {
            let s = source.value(r) as usize;
            let first = tokens.value(r).as_primitive::<Int32Type>().value(0);
            assert_eq!(s, usize::from(first >= 1_000_000));
            assert!(docs.insert(first), "row twice");
            counts[s] += 1.0;
        }
        let t = ((k + 1) * 10) as f64;
        assert!((counts[0] - t / 4.0).abs() < 1.0 && (counts[1] - 3.0 * t / 4.0).abs() < 1.0);
    }
    let after = m.after_batches(&start, 4);
    let rest = read(&after);
    assert_eq!(rest.len(), batches.len() - 4);
    for (x, y) in rest.iter().zip(&batches[4..]) {
        assert_eq!(x, y);
    }
}

#[test]
fn mixtures_hold_their_proportions_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for stop in [Stop::FirstExhausted, Stop::AllExhausted] {
        let m = mixture(dir.path(), stop, [0.7, 0.3]);
        let (world, workers) = (2, 2);
        let start = m.start(0, world, workers);
        let expect = m.batches_per_worker(&start).unwrap() as usize;
        assert!(expect > 0);
        let mut every = Vec::new();
        for rank in 0..world {
            for worker in 0..workers {
                let batches = mixed_batches(&m, &start, rank, worker);
                assert_eq!(batches.len(), expect, "{stop:?}");
                // Each sequence's source is where its tokens came from, and
                // every prefix of k batches is within one sequence of its share.
                let mut counts = [0f64; 2];
                for (k, b) in batches.iter().enumerate() {
                    let src = b
                        .source
                        .as_ref()
                        .unwrap()
                        .as_primitive::<Int32Type>()
                        .values()
                        .to_vec();
                    let (tokens, _, _) = flatten(b, 6);
                    for (s, seq) in src.iter().zip(tokens.chunks(6)) {
                        let data: Vec<&i32> = seq.iter().filter(|&&t| t != EOS).collect();
                        if let Some(&&t) = data.first() {
                            assert_eq!(*s, i32::from(t >= 1_000_000), "{seq:?}");
                        }
                        counts[*s as usize] += 1.0;
                    }
                    let drawn = ((k + 1) * 4) as f64;
                    assert!(
                        (counts[0] - drawn * 0.7).abs() < 1.0
                            && (counts[1] - drawn * 0.3).abs() < 1.0
                    );
                }
                every.push(batches);
            }
        }
        // Within one epoch of every source, no token twice.
        if stop == Stop::FirstExhausted {
            let mut seen = HashSet::new();
            for t in every.iter().flatten().flat_map(|b| flatten(b, 6).0) {
                assert!(t == EOS || seen.insert(t), "token {t} twice");
            }
        }
        // Resume after k batches of the rank: the same batches follow.
        for k in [1u64, 3, 5] {
            let after = m.after_batches(&start, k);
            for rank in 0..world {
                for w in 0..workers {
                    let index = (rank * workers + w) as usize;
                    let taken = (k / workers + u64::from(w < k % workers)) as usize;
                    let worker = (w + workers - after.rotation) % workers;
                    let rest = mixed_batches(&m, &after, rank, worker);
                    let tail = &every[index][taken.min(every[index].len())..];
                    assert_eq!(rest.len(), tail.len());
                    for (a, b) in rest.iter().zip(tail) {
                        assert_eq!(flatten(a, 6), flatten(b, 6));
                        assert_eq!(
                            a.source.as_ref().unwrap().to_data(),
                            b.source.as_ref().unwrap().to_data()
                        );
                    }
                }
            }
        }
        if stop == Stop::FirstExhausted {
            // Elastic 2 -> 3 ranks: what was not drawn is drawn once.
            let after = m.after_batches(&start, 2);
            let moved = m.resume(&after, 3, 1, 0).unwrap();
            let mut seen: HashSet<i32> = HashSet::new();
            for rank in 0..world {
                for w in 0..workers {
                    let index = (rank * workers + w) as usize;
                    for b in &every[index][..1] {
                        seen.extend(flatten(b, 6).0.into_iter().filter(|&t| t != EOS));
                    }
                }
            }
            let counts: Vec<usize> = (0..3)
                .map(|r| mixed_batches(&m, &moved, r, 0).len())
                .collect();
            assert!(counts.windows(2).all(|w| w[0] == w[1]));
            for r in 0..3 {
                for b in mixed_batches(&m, &moved, r, 0) {
                    for t in flatten(&b, 6).0 {
                        assert!(
                            t == EOS || seen.insert(t),
                            "token {t} twice after the elastic resume"
                        );
                    }
                }
            }
        }
    }
}
