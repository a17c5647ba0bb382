use super::*;
use crate::Fingerprint;

fn layout() -> HeadLayout {
    HeadLayout::new(2, 3)
}

fn columns() -> SampleColumns {
    SampleColumns {
        axes: vec!["gender_and_sex".into()],
        buckets: vec![
            ("gender_and_sex".into(), "female".into()),
            ("gender_and_sex".into(), "male".into()),
        ],
        bucket_counts: vec![3, 4],
    }
}

fn provenance(seed: u64) -> Provenance {
    let mut p = Provenance::new(
        SAMPLE_TABLE_KIND,
        SAMPLE_TABLE_VERSION,
        "sample",
        vec!["sample".into()],
    );
    p.layout = Some(layout());
    p.seed = Some(seed);
    p.model = Some(Fingerprint {
        path: "tiny".into(),
        sha256: "abc".into(),
    });
    p
}

fn row(id: u64) -> SampleRow {
    let mut bits = vec![false; 6];
    bits[id as usize % 6] = id > 0;
    SampleRow {
        mask_id: id,
        origin: if id == 0 {
            "unpruned".into()
        } else {
            "random".into()
        },
        mask: HeadMask::from_bits(layout(), bits).unwrap(),
        bias: vec![0.1 * id as f64],
        bucket_means: vec![0.2, 0.3],
        logit_bias: vec![0.5 * id as f64],
        logit_bucket_means: vec![-1.0, 0.4],
        perplexity: 10.0 + id as f64,
        window_nll: vec![2.0, 2.5 + id as f64],
        eval_seconds: 0.5,
    }
}

fn table(rows: Vec<SampleRow>) -> SampleTable {
    SampleTable {
        provenance: provenance(1),
        layout: layout(),
        columns: columns(),
        rows,
    }
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.parquet");
    let t = table((0..4).map(row).collect());
    write_sample_table(&p, &t).unwrap();
    let back = read_sample_table(&p).unwrap();
    assert_eq!(back.rows, t.rows);
    assert_eq!(back.columns, t.columns);
    assert_eq!(back.provenance, t.provenance);
}

#[test]
fn nan_is_refused_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = row(1);
    r.perplexity = f64::NAN;
    let err = write_sample_table(&dir.path().join("s.parquet"), &table(vec![r]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("perplexity") && err.contains("NaN"), "{err}");
}

#[test]
fn foreign_parquet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let prov = Provenance::new("trajectory", 1, "anneal", vec![]);
    crate::trajectory::write_trajectory(&p, &[], &prov).unwrap();
    let err = read_sample_table(&p).unwrap_err().to_string();
    assert!(
        err.contains("sample-table") && err.contains("t.parquet"),
        "{err}"
    );
    std::fs::write(&p, b"not parquet").unwrap();
    assert!(read_sample_table(&p)
        .unwrap_err()
        .to_string()
        .contains("t.parquet"));
}

#[test]
fn parts_resume_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.parquet");
    let (mut w, done) =
        SampleTableWriter::open(&p, provenance(1), layout(), columns(), false).unwrap();
    assert!(done.is_empty());
    w.append(&[row(0), row(1)]).unwrap();
    drop(w); // simulated kill
    assert!(!p.exists());
    assert!(SampleTableWriter::open(&p, provenance(1), layout(), columns(), false).is_err());
    assert!(SampleTableWriter::open(&p, provenance(2), layout(), columns(), true).is_err());
    let (mut w, done) =
        SampleTableWriter::open(&p, provenance(1), layout(), columns(), true).unwrap();
    assert_eq!(done.len(), 2);
    w.append(&[row(2)]).unwrap();
    let t = w.finish().unwrap();
    assert_eq!(t.rows.len(), 3);
    assert_eq!(read_sample_table(&p).unwrap().rows, t.rows);
    assert!(!parts::parts_dir(&p).exists());
}

#[test]
fn provenance_is_on_the_arrow_schema_too() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.parquet");
    write_sample_table(&p, &table((0..2).map(row).collect())).unwrap();
    let read = crate::table::read_table(&p).unwrap();
    let meta = read.schema.metadata();
    let on_schema = meta
        .get(crate::table::PROVENANCE_KEY)
        .expect("provenance on the Arrow schema");
    assert_eq!(
        Provenance::from_json(on_schema, "s").unwrap(),
        provenance(1)
    );
    assert_eq!(
        meta.get(crate::table::SCHEMA_VERSION_KEY)
            .map(String::as_str),
        Some("2")
    );
}

#[test]
fn read_samples_keeps_each_mask_once_across_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write_sample_table(&a, &table(vec![row(0), row(1), row(2)])).unwrap();
    // A second round: its own unpruned row (the same mask) and a new mask with a colliding id.
    let mut other = row(3);
    other.mask_id = 1;
    write_sample_table(&b, &table(vec![row(0), other.clone()])).unwrap();
    let (combined, first) = read_samples(&[a.clone(), b]).unwrap();
    assert_eq!(first, a);
    assert_eq!(
        combined.rows.len(),
        4,
        "unpruned once, both masks with id 1 kept"
    );
    assert_eq!(
        combined
            .rows
            .iter()
            .filter(|r| r.mask.num_pruned() == 0)
            .count(),
        1
    );
    assert!(combined.rows.contains(&other));
}

#[test]
fn shards_combine_as_the_unsharded_table() {
    // The unsharded run: id 1 a single-head knockout, id 4 a random mask repeating it.
    let mut knockout = row(1);
    knockout.origin = "single-head".into();
    let mut repeat = row(4);
    repeat.mask = knockout.mask.clone();
    let rows = vec![row(0), knockout.clone(), row(2), row(3), repeat];
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.parquet");
    write_sample_table(&whole, &table(rows.clone())).unwrap();
    // Shard 0 of 2 holds ids 0, 2, 4 (the repeat), shard 1 ids 1 (the knockout), 3.
    let mut shards = Vec::new();
    for i in 0..2u64 {
        let path = dir.path().join(format!("shard-{i}.parquet"));
        let part = rows
            .iter()
            .filter(|r| r.mask_id % 2 == i)
            .cloned()
            .collect();
        write_sample_table(&path, &table(part)).unwrap();
        shards.push(path);
    }
    let (merged, _) = read_samples(&shards).unwrap();
    let (reference, _) = read_samples(&[whole]).unwrap();
    assert_eq!(merged.rows, reference.rows);
    assert!(
        merged.rows.contains(&knockout),
        "the knockout is kept, not the repeat"
    );
}

#[test]
fn bucket_counts_travel_in_the_field_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.parquet");
    write_sample_table(&p, &table(vec![row(0)])).unwrap();
    assert_eq!(
        read_sample_table(&p).unwrap().columns.bucket_counts,
        vec![3, 4]
    );
}

/// Found by the mutation test (crates/attnprune-fuzz): the parquet crate panics on some
/// corrupt footers (thrift metadata); every one-byte corruption of the footer is an error.
#[test]
fn a_corrupt_footer_is_an_error_not_a_panic() {
    // In memory where possible (/dev/shm): one file write per corruption.
    let dir = tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let path = dir.path().join("t.parquet");
    write_sample_table(&path, &table(vec![row(0), row(1), row(2)])).unwrap();
    let good = std::fs::read(&path).unwrap();
    let n = good.len();
    let footer = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    let bad = dir.path().join("bad.parquet");
    let mut caught = 0;
    for at in n - 8 - footer..n - 8 {
        for value in [0x00, 0xff] {
            let mut bytes = good.clone();
            bytes[at] = value;
            std::fs::write(&bad, &bytes).unwrap();
            if let Err(e) = read_sample_table(&bad) {
                caught += usize::from(e.to_string().contains("the parquet reader failed"));
            }
        }
    }
    assert!(
        caught > 0,
        "no corruption reached the parquet crate's panics: the test lost its point"
    );
}
