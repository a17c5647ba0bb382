//! Dequantization checked against gguf-py (see `make_quant_fixtures.py`).
//!
//! `fixtures/quants.gguf` was written by gguf-py (alignment 64, every
//! metadata kind, one small tensor per supported type); `quants_expected.gguf`
//! holds gguf-py's own dequantization of each tensor as F32.
#![allow(clippy::unwrap_used)] // tests may unwrap

use attnprune_gguf::{GgmlType, GgufFile, GgufWriter, MetadataValue};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn load(name: &str) -> GgufFile {
    GgufFile::open(std::path::Path::new(&format!("{DIR}/{name}"))).unwrap()
}

fn close(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

#[test]
fn every_tensor_matches_gguf_py() {
    let quants = load("quants.gguf");
    let expected = load("quants_expected.gguf");
    let mut seen = std::collections::BTreeSet::new();
    for info in &quants.tensors {
        let got = quants.dequantize(&info.name).unwrap();
        let want = expected.dequantize(&info.name).unwrap();
        assert_eq!(got.len(), info.num_elements());
        assert_eq!(got.len(), want.len(), "{}", info.name);
        let bad = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| !close(**g, **w))
            .count();
        assert_eq!(bad, 0, "{}: {bad} mismatching values", info.name);
        let exp_shape = expected.tensor_info(&info.name).unwrap().shape();
        assert_eq!(info.shape(), exp_shape, "{}", info.name);
        seen.insert(info.dtype.name());
    }
    let all = [
        "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K",
    ];
    assert_eq!(seen, all.into_iter().collect());
}

#[test]
fn k_quant_fixtures_are_not_trivial() {
    let quants = load("quants.gguf");
    for name in ["Q4_K.r", "Q5_K.r", "Q6_K.r"] {
        let v = quants.dequantize(name).unwrap();
        let distinct: std::collections::BTreeSet<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert!(distinct.len() > 100, "{name}");
        assert_eq!(quants.tensor_info(name).unwrap().shape(), vec![2, 512]);
    }
}

#[test]
fn writer_q8_0_is_byte_identical_to_gguf_py() {
    let quants = load("quants.gguf");
    let expected = load("quants_expected.gguf");
    let source = expected.dequantize("Q8_0.q.source").unwrap();
    let shape = quants.tensor_info("Q8_0.q").unwrap().shape();
    let mut w = GgufWriter::new();
    w.add_tensor("x", &shape, GgmlType::Q8_0, &source).unwrap();
    let ours = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(
        ours.tensor_data("x").unwrap(),
        quants.tensor_data("Q8_0.q").unwrap()
    );
}

#[test]
fn gguf_py_metadata_is_read_correctly() {
    let f = load("quants.gguf");
    assert_eq!(f.version, 3);
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_start() % 64, 0);
    assert_eq!(f.architecture().unwrap(), "testarch");
    assert_eq!(f.meta("test.u8").unwrap(), &MetadataValue::U8(200));
    assert_eq!(f.meta("test.i8").unwrap(), &MetadataValue::I8(-100));
    assert_eq!(f.meta("test.u16").unwrap(), &MetadataValue::U16(60000));
    assert_eq!(f.meta("test.i16").unwrap(), &MetadataValue::I16(-30000));
    assert_eq!(
        f.meta("test.u32").unwrap(),
        &MetadataValue::U32(4_000_000_000)
    );
    assert_eq!(
        f.meta("test.i32").unwrap(),
        &MetadataValue::I32(-2_000_000_000)
    );
    assert_eq!(f.meta("test.f32").unwrap(), &MetadataValue::F32(1.5));
    assert_eq!(f.meta("test.bool").unwrap(), &MetadataValue::Bool(true));
    assert_eq!(f.meta_str("test.string").unwrap(), "héllo wörld");
    assert_eq!(f.meta("test.u64").unwrap(), &MetadataValue::U64(1 << 40));
    assert_eq!(f.meta("test.i64").unwrap(), &MetadataValue::I64(-(1 << 40)));
    assert_eq!(f.meta_f64("test.f64").unwrap(), 2.25);
    let strings = f.meta_string_array("test.strings").unwrap();
    assert_eq!(strings, vec!["a", "", "ümlaut", "<|endoftext|>"]);
    let ints: Vec<i64> = f
        .meta("test.ints")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ints, vec![1, -2, 3]);
    let nested = f.meta("test.nested").unwrap().as_array().unwrap();
    assert_eq!(nested.len(), 2);
    assert_eq!(nested[0].as_array().unwrap().len(), 2);
    assert_eq!(nested[1].as_array().unwrap()[0].as_u64(), Some(3));
}
