use super::*;
use crate::Fingerprint;

fn layout() -> HeadLayout {
    HeadLayout::new(2, 3)
}

fn columns() -> SampleColumns {
    SampleColumns {
        axes: vec!["gender_and_sex".into()],
        buckets: vec![("gender_and_sex".into(), "female".into()), ("gender_and_sex".into(), "male".into())],
        bucket_counts: vec![3, 4],
    }
}

fn provenance(seed: u64) -> Provenance {
    let mut p = Provenance::new(SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION, "sample", vec!["sample".into()]);
    p.layout = Some(layout());
    p.seed = Some(seed);
    p.model = Some(Fingerprint { path: "tiny".into(), sha256: "abc".into() });
    p
}

fn row(id: u64) -> SampleRow {
    let mut bits = vec![false; 6];
    bits[id as usize % 6] = id > 0;
    SampleRow {
        mask_id: id,
        origin: if id == 0 { "unpruned".into() } else { "random".into() },
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
    SampleTable { provenance: provenance(1), layout: layout(), columns: columns(), rows }
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
    let err = write_sample_table(&dir.path().join("s.parquet"), &table(vec![r])).unwrap_err().to_string();
    assert!(err.contains("perplexity") && err.contains("NaN"), "{err}");
}

#[test]
fn foreign_parquet_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.parquet");
    let prov = Provenance::new("trajectory", 1, "anneal", vec![]);
    crate::trajectory::write_trajectory(&p, &[], &prov).unwrap();
    let err = read_sample_table(&p).unwrap_err().to_string();
    assert!(err.contains("sample-table") && err.contains("t.parquet"), "{err}");
    std::fs::write(&p, b"not parquet").unwrap();
    assert!(read_sample_table(&p).unwrap_err().to_string().contains("t.parquet"));
}

#[test]
fn parts_resume_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.parquet");
    let (mut w, done) = SampleTableWriter::open(&p, provenance(1), layout(), columns(), false).unwrap();
    assert!(done.is_empty());
    w.append(&[row(0), row(1)]).unwrap();
    drop(w); // simulated kill
    assert!(!p.exists());
    assert!(SampleTableWriter::open(&p, provenance(1), layout(), columns(), false).is_err());
    assert!(SampleTableWriter::open(&p, provenance(2), layout(), columns(), true).is_err());
    let (mut w, done) = SampleTableWriter::open(&p, provenance(1), layout(), columns(), true).unwrap();
    assert_eq!(done.len(), 2);
    w.append(&[row(2)]).unwrap();
    let t = w.finish().unwrap();
    assert_eq!(t.rows.len(), 3);
    assert_eq!(read_sample_table(&p).unwrap().rows, t.rows);
    assert!(!parts::parts_dir(&p).exists());
}
