//! End-to-end reads of real Parquet files: coverage across ranks and
//! workers, resume, projection, filters, and corrupt files.

use hf3fs_core::CancelToken;
use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{Array, Int64Array, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use dataset::filter::{CmpOp, Predicate, Scalar};
use dataset::source::SourceOptions;
use dataset::{Dataset, DatasetOptions, EpochPosition};
use hf3fs_core::fs::{FileSystem, LocalFileSystem, SlowFileSystem, SlowStats};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// Files of `sizes[i]` rows each, `row_id` numbering rows across files.
fn write_files(dir: &std::path::Path, sizes: &[usize], group_rows: usize) -> Vec<String> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("row_id", DataType::Int64, false),
        Field::new(
            "tokens",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
            true,
        ),
        Field::new("tag", DataType::Utf8, true),
    ]));
    let mut next = 0i64;
    let mut paths = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let ids: Vec<i64> = (next..next + n as i64).collect();
        next += n as i64;
        let tokens = ListArray::from_iter_primitive::<Int32Type, _, _>(
            ids.iter()
                .map(|&id| Some((0..(id % 7) as i32).map(Some).collect::<Vec<_>>())),
        );
        let tags = StringArray::from_iter(
            ids.iter()
                .map(|id| (id % 5 != 0).then(|| format!("t{}", id % 3))),
        );
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(tokens),
                Arc::new(tags),
            ],
        )
        .unwrap();
        let path = dir.join(format!("part-{i}.parquet"));
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group_rows))
            .set_data_page_row_count_limit(16)
            .set_write_batch_size(16)
            .build();
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema.clone(),
            Some(props),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        paths.push(path.to_string_lossy().into_owned());
    }
    paths
}

fn read_all(
    ds: &Dataset,
    progress: &EpochPosition,
    rank: u64,
    worker: u64,
) -> (Vec<i64>, Vec<usize>) {
    let mut reader = ds.reader(progress, rank, worker).unwrap();
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
        sizes.push(b.num_rows());
        let col = b
            .column_by_name("row_id")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        ids.extend(col.values().iter().copied());
    }
    (ids, sizes)
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

/// `dir` opened through a [`SlowFileSystem`] over the local disk (a remote
/// store to the reader) with `latency` per request, and the store's counters.
fn open_slow(
    dir: &std::path::Path,
    latency: std::time::Duration,
    options: DatasetOptions,
) -> (Dataset, Arc<SlowStats>) {
    let local: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let slow = SlowFileSystem::new(local, latency, 4);
    let stats = slow.stats();
    let ds = Dataset::open(
        &[dir.to_string_lossy().into_owned()],
        &SourceOptions {
            filesystem: Some(Arc::new(slow)),
            ..Default::default()
        },
        options,
        &CancelToken::never(),
    )
    .unwrap();
    (ds, stats)
}

#[test]
fn every_rank_and_worker_reads_equal_disjoint_spans() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[100, 37, 250], 33);
    for shuffle in [false, true] {
        let ds = open(
            dir.path(),
            DatasetOptions {
                batch_size: 10,
                shuffle,
                seed: 3,
                decode_threads: 2,
                ..Default::default()
            },
        );
        assert_eq!(ds.num_rows(), 387);
        let (world, workers) = (3, 2);
        let progress = ds.start(1, world, workers);
        let mut seen = HashSet::new();
        let mut counts = Vec::new();
        for rank in 0..world {
            for worker in 0..workers {
                let (ids, sizes) = read_all(&ds, &progress, rank, worker);
                assert_eq!(sizes.len() as u64, ds.batches_per_worker(&progress));
                assert!(sizes[..sizes.len() - 1].iter().all(|&s| s == 10));
                counts.push(ids.len());
                for id in ids {
                    assert!(seen.insert(id), "row {id} read twice");
                }
            }
        }
        assert!(counts.iter().all(|&c| c == 387 / 6));
        assert_eq!(seen.len(), 387 - 387 % 6);
    }
}

#[test]
fn resume_continues_with_the_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[120, 80], 25);
    for window in [0, 16] {
        let ds = open(
            dir.path(),
            DatasetOptions {
                batch_size: 7,
                shuffle: true,
                shuffle_window: window,
                ..Default::default()
            },
        );
        let progress = ds.start(0, 1, 1);
        let (all, _) = read_all(&ds, &progress, 0, 0);
        for k in [0u64, 1, 5, 20, 28] {
            let mut saved = progress.clone();
            saved.consumed = vec![(k * 7).min(all.len() as u64)];
            let resumed = ds.resume(&saved, 1, 1, 0).unwrap();
            let (rest, _) = read_all(&ds, &resumed, 0, 0);
            assert_eq!(
                &all[(saved.consumed[0] as usize)..],
                &rest[..],
                "k={k} window={window}"
            );
        }
    }
}

#[test]
fn projection_and_filters_select_columns_and_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[300], 50);
    let filter = Predicate::Or(vec![
        Predicate::Compare {
            column: "row_id".into(),
            op: CmpOp::Lt,
            value: Scalar::Int(20),
        },
        Predicate::Compare {
            column: "tag".into(),
            op: CmpOp::Eq,
            value: Scalar::Str("t1".into()),
        },
    ]);
    let ds = open(
        dir.path(),
        DatasetOptions {
            columns: Some(vec!["tag".into(), "row_id".into()]),
            filter: Some(filter),
            batch_size: 32,
            ..Default::default()
        },
    );
    let expected: Vec<i64> = (0..300)
        .filter(|id| *id < 20 || (id % 5 != 0 && id % 3 == 1))
        .collect();
    assert_eq!(ds.num_rows(), expected.len() as u64);
    let progress = ds.start(0, 1, 1);
    let mut reader = ds.reader(&progress, 0, 0).unwrap();
    let mut ids = Vec::new();
    while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
        assert_eq!(b.schema().field(0).name(), "tag");
        assert_eq!(b.num_columns(), 2);
        let col = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        ids.extend(col.values().iter().copied());
    }
    assert_eq!(ids, expected);

    // A filter no row group can match prunes everything.
    let none = open(
        dir.path(),
        DatasetOptions {
            filter: Some(Predicate::Compare {
                column: "row_id".into(),
                op: CmpOp::Gt,
                value: Scalar::Int(10_000),
            }),
            ..Default::default()
        },
    );
    assert_eq!(none.num_rows(), 0);
    assert!(none.scan().groups.is_empty());
}

#[test]
fn missing_columns_and_mismatched_schemas_name_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[10], 5);
    let err = Dataset::open(
        &[dir.path().to_string_lossy().into_owned()],
        &SourceOptions::default(),
        DatasetOptions {
            columns: Some(vec!["nope".into()]),
            ..Default::default()
        },
        &CancelToken::never(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");

    let other = dir.path().join("zz-other.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new(
        "row_id",
        DataType::Utf8,
        false,
    )]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&other).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let err = Dataset::open(
        &[dir.path().to_string_lossy().into_owned()],
        &SourceOptions::default(),
        DatasetOptions::default(),
        &CancelToken::never(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("zz-other.parquet"), "{err}");
}

#[test]
fn corrupt_and_truncated_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[200], 40);
    let good = std::fs::read(&paths[0]).unwrap();
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = bad_dir.path().join("bad.parquet");
    let mut variants: Vec<Vec<u8>> = Vec::new();
    for cut in (0..good.len()).step_by(131) {
        variants.push(good[..cut].to_vec());
    }
    for (i, at) in (0..good.len()).step_by(97).enumerate() {
        let mut v = good.clone();
        v[at] ^= 0x5a ^ (i as u8);
        variants.push(v);
    }
    for v in variants {
        std::fs::write(&bad, &v).unwrap();
        let opened = Dataset::open(
            &[bad.to_string_lossy().into_owned()],
            &SourceOptions::default(),
            DatasetOptions {
                batch_size: 64,
                ..Default::default()
            },
            &CancelToken::never(),
        );
        let Ok(ds) = opened else {
            let e = opened.unwrap_err().to_string();
            assert!(e.contains("bad.parquet"), "{e}");
            continue;
        };
        let progress = ds.start(0, 1, 1);
        let mut reader = match ds.reader(&progress, 0, 0) {
            Ok(r) => r,
            Err(e) => {
                assert!(e.to_string().contains("bad.parquet"), "{e}");
                continue;
            }
        };
        loop {
            match reader.next_batch(&CancelToken::never()) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    assert!(e.to_string().contains("bad.parquet"), "{e}");
                    break;
                }
            }
        }
    }
}

#[test]
fn a_slow_store_keeps_many_pieces_in_flight_and_yields_the_same_batches() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[200, 200, 200], 25);
    let options = DatasetOptions {
        batch_size: 16,
        shuffle: true,
        seed: 9,
        shuffle_window: 48,
        // The files are small: kept whole from their footer reads, they
        // would need no reads at all.
        index: dataset::index::IndexOptions {
            small_file_bytes: 0,
            footer_cache: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let fast = open(dir.path(), options.clone());
    let progress = fast.start(0, 1, 1);
    let expected = read_all(&fast, &progress, 0, 0);
    let (through_slow, stats) =
        open_slow(dir.path(), std::time::Duration::from_millis(20), options);
    stats.reset();
    assert_eq!(read_all(&through_slow, &progress, 0, 0), expected);
    // 24 pieces, each one request: they wait on the store together.
    assert!(stats.peak_in_flight() >= 8, "{}", stats.peak_in_flight());
    assert!(stats.read_requests() >= 24);
}

#[test]
fn small_files_are_read_once_with_their_footers() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[120, 80, 50, 200], 30);
    let options = DatasetOptions {
        batch_size: 16,
        shuffle: true,
        seed: 3,
        ..Default::default()
    };
    let expected = {
        let ds = open(dir.path(), options.clone());
        read_all(&ds, &ds.start(0, 1, 1), 0, 0)
    };
    let open_through = |budget: u64| {
        let mut options = options.clone();
        options.index.small_file_bytes = budget;
        options.index.footer_cache = None;
        let (ds, stats) = open_slow(dir.path(), std::time::Duration::ZERO, options);
        // One tail read per file brought every (small) file whole.
        assert_eq!(stats.read_requests(), 4);
        stats.reset();
        let got = read_all(&ds, &ds.start(0, 1, 1), 0, 0);
        (got, stats.read_requests())
    };
    let (got, reads) = open_through(dataset::index::DEFAULT_SMALL_FILE_BYTES);
    assert_eq!(got, expected);
    assert_eq!(reads, 0, "every piece came from the footer reads");
    // Without the budget the same batches come from the store again.
    let (got, reads) = open_through(0);
    assert_eq!(got, expected);
    assert!(reads > 0);
}

#[test]
fn small_remote_files_are_fetched_whole_by_their_footer_read() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[30_000, 20_000], 4_000);
    for p in &paths {
        let size = std::fs::metadata(p).unwrap().len();
        // Above the 64 KiB tail read, within the whole-file size for remote stores.
        assert!(
            size > dataset::index::DEFAULT_FOOTER_READ_SIZE
                && size <= dataset::index::SMALL_REMOTE_FILE,
            "{p}: {size} bytes"
        );
    }
    let options = DatasetOptions {
        index: dataset::index::IndexOptions {
            footer_cache: None,
            ..Default::default()
        },
        ..Default::default()
    };
    let (ds, stats) = open_slow(dir.path(), std::time::Duration::ZERO, options);
    assert_eq!(stats.read_requests(), 2, "one read per file");
    stats.reset();
    let (ids, _) = read_all(&ds, &ds.start(0, 1, 1), 0, 0);
    assert_eq!(ids, (0..50_000).collect::<Vec<i64>>());
    assert_eq!(
        stats.read_requests(),
        0,
        "the data came with the footer reads"
    );
}

#[test]
fn remote_footers_are_cached_between_opens() {
    use dataset::footer_cache::FooterCache;
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[300, 200, 100], 50);
    let open_counting = || {
        let options = DatasetOptions {
            batch_size: 32,
            index: dataset::index::IndexOptions {
                footer_cache: Some(FooterCache::at(cache_dir.path())),
                small_file_bytes: 0,
                ..Default::default()
            },
            ..Default::default()
        };
        let (ds, stats) = open_slow(dir.path(), std::time::Duration::ZERO, options);
        let footers = stats.read_requests();
        let (ids, _) = read_all(&ds, &ds.start(0, 1, 1), 0, 0);
        (footers, ids)
    };
    let (first, ids) = open_counting();
    assert_eq!(first, 3, "one footer read per file");
    assert_eq!(ids, (0..600).collect::<Vec<i64>>());
    let (again, same) = open_counting();
    assert_eq!(again, 0, "every footer came from the cache");
    assert_eq!(same, ids);
    // A rewritten file (new size and time) is a miss; damaged entries are read again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_files(dir.path(), &[300, 200, 150], 50);
    let (after_change, _) = open_counting();
    assert_eq!(
        after_change, 3,
        "the rewritten files' footers were read again"
    );
    for entry in std::fs::read_dir(cache_dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"\0\0\0\0\0\0\0\0damaged").unwrap();
    }
    let (damaged, ids) = open_counting();
    assert_eq!(damaged, 3);
    assert_eq!(ids, (0..650).collect::<Vec<i64>>());
}

#[test]
fn opening_stops_when_the_token_fires() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_files(dir.path(), &[5; 40], 5);
    let local: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let slow = SlowFileSystem::new(local, std::time::Duration::from_millis(200), 4);
    let stats = slow.stats();
    let cancel = CancelToken::new();
    let firer = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let err = Dataset::open(
        &paths,
        &SourceOptions {
            filesystem: Some(Arc::new(slow)),
            ..Default::default()
        },
        DatasetOptions::default(),
        &cancel,
    )
    .unwrap_err();
    firer.join().unwrap();
    assert!(matches!(err, dataset::Error::Interrupted(_)), "{err}");
    // 40 files need 40 lookups and 80 footer calls; it stopped long before.
    let calls = stats.metadata_requests() + stats.read_requests();
    assert!(calls < 100, "{calls}");
}
