//! Writer -> reader round trips, metadata accessors, and writer validation.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use attnprune_gguf::{GgmlType, GgufError, GgufFile, GgufWriter, MetadataValue};
use common::XorShift;

fn values(n: usize, seed: u64) -> Vec<f32> {
    XorShift(seed).floats(n)
}

#[test]
fn f32_round_trip_is_exact() {
    let data = values(2 * 3 * 4, 1);
    let mut w = GgufWriter::new();
    w.add_tensor("t", &[2, 3, 4], GgmlType::F32, &data).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let info = f.tensor_info("t").unwrap();
    assert_eq!(info.dims, vec![4, 3, 2]);
    assert_eq!(info.shape(), vec![2, 3, 4]);
    assert_eq!(info.num_elements(), 24);
    assert_eq!(info.dtype, GgmlType::F32);
    assert_eq!(f.dequantize("t").unwrap(), data);
    assert_eq!(f.version, 3);
}

#[test]
fn f16_round_trip_matches_half_rounding() {
    let data = values(64, 2);
    let mut w = GgufWriter::new();
    w.add_tensor("h", &[64], GgmlType::F16, &data).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let got = f.dequantize("h").unwrap();
    for (g, x) in got.iter().zip(&data) {
        assert_eq!(*g, half::f16::from_f32(*x).to_f32());
        assert!((g - x).abs() <= x.abs() / 1024.0 + 1e-7);
    }
}

#[test]
fn q8_0_round_trip_within_half_step() {
    let data = values(4 * 64, 3);
    let mut w = GgufWriter::new();
    w.add_tensor("q", &[4, 64], GgmlType::Q8_0, &data).unwrap();
    let bytes = w.to_bytes().unwrap();
    let f = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(f.tensor_data("q").unwrap().len(), 8 * 34);
    let got = f.dequantize("q").unwrap();
    for (block, got_block) in data.chunks(32).zip(got.chunks(32)) {
        let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
        let step = amax / 127.0;
        for (g, x) in got_block.iter().zip(block) {
            assert!((g - x).abs() <= step * 0.5 + amax * 1e-3, "{g} vs {x}");
        }
    }
}

#[test]
fn q8_0_all_zero_block_dequantizes_to_zero() {
    let mut w = GgufWriter::new();
    w.add_tensor("z", &[32], GgmlType::Q8_0, &[0.0; 32])
        .unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.dequantize("z").unwrap(), vec![0.0; 32]);
}

#[test]
fn metadata_of_every_kind_round_trips() {
    let all = vec![
        ("k.u8", MetadataValue::U8(1)),
        ("k.i8", MetadataValue::I8(-2)),
        ("k.u16", MetadataValue::U16(3)),
        ("k.i16", MetadataValue::I16(-4)),
        ("k.u32", MetadataValue::U32(5)),
        ("k.i32", MetadataValue::I32(-6)),
        ("k.f32", MetadataValue::F32(0.5)),
        ("k.bool", MetadataValue::Bool(true)),
        ("k.string", MetadataValue::String("héllo".into())),
        ("k.u64", MetadataValue::U64(u64::MAX)),
        ("k.i64", MetadataValue::I64(i64::MIN)),
        ("k.f64", MetadataValue::F64(-1.25)),
        ("k.empty", MetadataValue::Array(vec![])),
        (
            "k.nested",
            MetadataValue::Array(vec![MetadataValue::Array(vec![MetadataValue::F64(1.0)])]),
        ),
    ];
    let mut w = GgufWriter::new();
    for (k, v) in &all {
        w.add_metadata(*k, v.clone());
    }
    w.add_string_array("k.strings", &["a", "", "ü"]);
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    for (k, v) in &all {
        assert_eq!(f.meta(k).unwrap(), v, "{k}");
    }
    assert_eq!(
        f.meta_string_array("k.strings").unwrap(),
        vec!["a", "", "ü"]
    );
    assert_eq!(f.metadata.len(), all.len() + 1);
    assert!(f.tensors.is_empty());
}

#[test]
fn typed_accessors_are_lenient_on_numbers_and_strict_otherwise() {
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama")
        .add_metadata("i8", MetadataValue::I8(7))
        .add_metadata("neg", MetadataValue::I32(-1))
        .add_metadata("u16", MetadataValue::U16(9))
        .add_f32("f", 0.25)
        .add_metadata("ints", MetadataValue::Array(vec![MetadataValue::U32(1)]));
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.meta_u64("i8").unwrap(), 7);
    assert_eq!(f.meta_u64("u16").unwrap(), 9);
    assert_eq!(f.meta_f64("u16").unwrap(), 9.0);
    assert_eq!(f.meta_f64("f").unwrap(), 0.25);
    assert_eq!(f.meta("neg").unwrap().as_i64(), Some(-1));
    let err = f.meta_u64("neg").unwrap_err();
    assert!(matches!(err, GgufError::TypeMismatch { .. }), "{err}");
    assert!(f.meta_str("f").unwrap_err().to_string().contains("`f`"));
    assert!(f.meta_string_array("ints").is_err());
    assert!(f.meta_u64("general.architecture").is_err());
    let missing = f.meta("llama.block_count").unwrap_err();
    assert_eq!(
        missing.to_string(),
        "missing metadata key `llama.block_count`"
    );
    assert!(matches!(
        f.dequantize("nope").unwrap_err(),
        GgufError::TensorNotFound(_)
    ));
}

#[test]
fn alignment_is_honoured() {
    for align in [1u32, 8, 32, 64, 256] {
        let mut w = GgufWriter::new();
        w.add_u32("general.alignment", align);
        w.add_tensor("a", &[3], GgmlType::F32, &[1.0, 2.0, 3.0])
            .unwrap();
        w.add_tensor("b", &[5], GgmlType::F16, &[1.0; 5]).unwrap();
        let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
        assert_eq!(f.alignment(), u64::from(align));
        assert_eq!(f.data_start() % u64::from(align), 0);
        let b = f.tensor_info("b").unwrap();
        assert_eq!(
            b.offset,
            12u64.div_ceil(u64::from(align)) * u64::from(align)
        );
        assert_eq!(f.dequantize("a").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(f.dequantize("b").unwrap(), vec![1.0; 5]);
    }
}

#[test]
fn write_and_open_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.gguf");
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama");
    w.add_tensor("t", &[2, 32], GgmlType::Q8_0, &values(64, 4))
        .unwrap();
    w.write(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.dequantize("t").unwrap().len(), 64);
}

#[test]
fn writer_rejects_invalid_input() {
    let mut w = GgufWriter::new();
    let e = w
        .add_tensor("s", &[2, 3], GgmlType::F32, &[0.0; 5])
        .unwrap_err();
    assert!(e.to_string().contains("`s`"), "{e}");
    let e = w
        .add_tensor("q", &[2, 33], GgmlType::Q8_0, &[0.0; 66])
        .unwrap_err();
    assert!(matches!(e, GgufError::NotBlockMultiple { .. }), "{e}");
    assert!(w
        .add_tensor("k", &[256], GgmlType::Q4K, &[0.0; 256])
        .is_err());
    assert!(w
        .add_tensor("d", &[1, 1, 1, 1, 1], GgmlType::F32, &[0.0])
        .is_err());
    assert!(w
        .add_raw_tensor("r", &[32], GgmlType::Q4_0, vec![0; 17])
        .is_err());
    w.add_tensor("dup", &[1], GgmlType::F32, &[0.0]).unwrap();
    let e = w
        .add_tensor("dup", &[1], GgmlType::F32, &[0.0])
        .unwrap_err();
    assert!(matches!(e, GgufError::DuplicateTensor(_)), "{e}");
    let mixed = MetadataValue::Array(vec![
        MetadataValue::U8(1),
        MetadataValue::String("x".into()),
    ]);
    w.add_metadata("mixed", mixed);
    assert!(matches!(
        w.to_bytes().unwrap_err(),
        GgufError::InvalidMetadata { .. }
    ));
    let mut w = GgufWriter::new();
    w.add_u32("general.alignment", 3);
    assert!(matches!(
        w.to_bytes().unwrap_err(),
        GgufError::BadAlignment(_)
    ));
}

#[test]
fn type_names_and_ids() {
    assert_eq!(GgmlType::Q4K.name(), "Q4_K");
    assert_eq!(GgmlType::Q6K.id(), 14);
    assert_eq!(GgmlType::from_id(30), GgmlType::BF16);
    assert_eq!(GgmlType::from_id(16).name(), "IQ2_XXS");
    assert_eq!(GgmlType::from_id(10).name(), "Q2_K");
    assert_eq!(GgmlType::from_id(9999).name(), "unknown");
    assert_eq!(GgmlType::from_id(9999).to_string(), "unknown(9999)");
    for id in 0..64 {
        assert_eq!(GgmlType::from_id(id).id(), id);
    }
}
