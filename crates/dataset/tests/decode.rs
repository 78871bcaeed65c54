//! The two decode paths through the whole reader: the fast path takes the
//! primitive and list-of-primitive columns, arrow-rs the rest, the reader's
//! counters say which ran, and the batches equal those of arrow-rs alone
//! (windows, shuffles, filters and spans that cut row groups included).

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use dataset::filter::{CmpOp, Predicate, Scalar};
use dataset::source::SourceOptions;
use dataset::{Dataset, DatasetOptions};
use hf3fs_core::CancelToken;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

fn write(dir: &std::path::Path, files: usize, rows: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Int64, false),
        Field::new(
            "input_ids",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
            true,
        ),
        Field::new("score", DataType::Float32, true),
        Field::new("text", DataType::Utf8, true),
        Field::new(
            "nested",
            DataType::List(Arc::new(Field::new_list_field(
                DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true))),
                true,
            ))),
            true,
        ),
    ]));
    for f in 0..files {
        let base = (f * rows) as i64;
        let ids: Vec<i64> = (base..base + rows as i64).collect();
        let mut tokens = ListBuilder::new(Int32Builder::new());
        let mut nested = ListBuilder::new(ListBuilder::new(Int32Builder::new()));
        for &id in &ids {
            if id % 11 == 3 {
                tokens.append_null();
            } else {
                for t in 0..(id % 37) {
                    tokens
                        .values()
                        .append_option((t != 5).then_some((id * 31 + t) as i32));
                }
                tokens.append(true);
            }
            for _ in 0..(id % 3) {
                nested.values().values().append_value(id as i32);
                nested.values().append(true);
            }
            nested.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(tokens.finish()),
            Arc::new(Float32Array::from_iter(
                ids.iter().map(|&i| (i % 4 != 0).then_some(i as f32 / 8.0)),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("doc {i}")),
            )),
            Arc::new(nested.finish()),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(97))
            .set_data_page_row_count_limit(20)
            .set_write_batch_size(20)
            .build();
        let file = std::fs::File::create(dir.join(format!("part-{f}.parquet"))).unwrap();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
}

fn open(dir: &std::path::Path, fast_decode: bool, options: &DatasetOptions) -> Dataset {
    Dataset::open(
        &[dir.to_string_lossy().into_owned()],
        &SourceOptions::default(),
        DatasetOptions {
            fast_decode,
            ..options.clone()
        },
        &CancelToken::never(),
    )
    .unwrap()
}

/// Every batch of every (rank, worker), and the readers' column counts
/// (fast, arrow-rs); the fast ones must all have gone through the page
/// decoder (these files hold PLAIN and dictionary pages only).
fn read(ds: &Dataset, world: u64, workers: u64) -> (Vec<RecordBatch>, u64, u64) {
    let progress = ds.start(2, world, workers);
    let (mut out, mut fast, mut arrow) = (Vec::new(), 0, 0);
    let mut by_pages = 0;
    for rank in 0..world {
        for worker in 0..workers {
            let mut reader = ds.reader(&progress, rank, worker).unwrap();
            while let Some(b) = reader.next_batch(&CancelToken::never()).unwrap() {
                out.push(b);
            }
            let stats = reader.stats();
            fast += stats.fast_columns;
            arrow += stats.arrow_columns;
            by_pages += stats.page_decoder_columns;
        }
    }
    assert_eq!(by_pages, fast, "every fast column through the page decoder");
    (out, fast, arrow)
}

#[test]
fn fast_path_takes_its_columns_and_gives_arrow_rs_batches() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), 3, 500);
    let filter = Predicate::Compare {
        column: "doc_id".into(),
        op: CmpOp::Ge,
        value: Scalar::Int(120),
    };
    let cases = [
        (None, None, false, 0, 1, 1),
        (Some(vec!["input_ids", "doc_id"]), None, true, 0, 3, 2),
        (
            Some(vec!["score", "text", "input_ids"]),
            None,
            false,
            64,
            2,
            1,
        ),
        (None, Some(filter), true, 0, 2, 2),
    ];
    for (columns, filter, shuffle, window, world, workers) in cases {
        let options = DatasetOptions {
            columns: columns.map(|c| c.iter().map(|s| s.to_string()).collect()),
            filter,
            batch_size: 64,
            shuffle,
            seed: 7,
            shuffle_window: window,
            ..Default::default()
        };
        let fast_ds = open(dir.path(), true, &options);
        let arrow_ds = open(dir.path(), false, &options);
        let (fast_batches, fast, arrow) = read(&fast_ds, world, workers);
        let (arrow_batches, none, all) = read(&arrow_ds, world, workers);
        assert_eq!(fast_batches, arrow_batches, "{options:?}");
        assert!(!fast_batches.is_empty());
        let names = fast_ds.scan().fast_column_names();
        let slow = fast_ds.scan().columns.len() - names.len();
        assert!(names
            .iter()
            .all(|n| ["doc_id", "input_ids", "score"].contains(&n.as_str())));
        assert_eq!(none, 0, "fast_decode off decodes nothing fast");
        assert_eq!(fast + arrow, all);
        // Every piece decodes each fast column fast and the others with arrow-rs.
        let pieces = all / fast_ds.scan().columns.len() as u64;
        assert_eq!(fast, pieces * names.len() as u64, "{options:?}");
        assert_eq!(arrow, pieces * slow as u64, "{options:?}");
    }
}
