//! Every validation in the reader, exercised with a hand-forged file.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use attnprune_gguf::{GgmlType, GgufError, GgufFile, GgufWriter};
use common::Raw;

fn parse(bytes: Vec<u8>) -> GgufError {
    GgufFile::from_bytes(bytes).unwrap_err()
}

/// A file with one tensor entry and its data.
fn one_tensor(dims: &[u64], dtype: u32, offset: u64, data_len: usize) -> Vec<u8> {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("w", dims, dtype, offset).pad(32);
    r.bytes(&vec![0u8; data_len]);
    r.build()
}

#[test]
fn bad_magic_shows_the_bytes() {
    let mut bytes = Raw::header(3, 0, 0).build();
    bytes[3] = b'X';
    let e = parse(bytes);
    assert!(matches!(e, GgufError::BadMagic { found } if &found == b"GGUX"));
    assert!(e.to_string().contains("`GGUX` (47 47 55 58)"), "{e}");
    let e = parse(vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 0]);
    assert!(e.to_string().contains("\\x7fELF"), "{e}");
}

#[test]
fn versions() {
    assert!(GgufFile::from_bytes(Raw::header(2, 0, 0).build()).is_ok());
    assert!(GgufFile::from_bytes(Raw::header(3, 0, 0).build()).is_ok());
    let e = parse(Raw::header(1, 0, 0).build());
    assert!(
        matches!(e, GgufError::UnsupportedVersion { version: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("`1`"));
    let e = parse(Raw::header(3u32.swap_bytes(), 0, 0).build());
    assert!(e.to_string().contains("big-endian"), "{e}");
    assert!(parse(Raw::header(4, 0, 0).build())
        .to_string()
        .contains("`4`"));
}

#[test]
fn every_truncation_of_a_valid_file_is_an_error() {
    let bytes = common::sample_file();
    let full = GgufFile::from_bytes(bytes.clone()).unwrap();
    let data_end = full
        .tensors
        .iter()
        .map(|t| full.data_start() + t.offset + t.byte_size().unwrap())
        .max()
        .unwrap();
    let mut saw_tensor_error = false;
    for len in 0..bytes.len() {
        let result = GgufFile::from_bytes(bytes[..len].to_vec());
        assert_eq!(result.is_ok(), len as u64 >= data_end, "truncated to {len}");
        let Err(e) = result else { continue };
        match e {
            GgufError::TruncatedTensor { ref name, .. } => {
                assert!(full.tensor_info(name).is_some());
                saw_tensor_error = true;
            }
            GgufError::Truncated { .. } => {}
            other => panic!("truncated to {len}: unexpected {other}"),
        }
    }
    assert!(saw_tensor_error);
}

#[test]
fn truncated_data_names_the_tensor() {
    let mut w = GgufWriter::new();
    w.add_tensor("first", &[8], GgmlType::F32, &[1.0; 8])
        .unwrap();
    w.add_tensor("blk.0.attn_q.weight", &[64], GgmlType::F32, &[1.0; 64])
        .unwrap();
    let mut bytes = w.to_bytes().unwrap();
    bytes.truncate(bytes.len() - 10);
    let e = parse(bytes);
    assert!(
        matches!(e, GgufError::TruncatedTensor { ref name, .. } if name == "blk.0.attn_q.weight")
    );
    assert!(
        e.to_string()
            .contains("tensor `blk.0.attn_q.weight` data is truncated"),
        "{e}"
    );
}

#[test]
fn forged_lengths_and_counts_do_not_allocate() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(u64::MAX);
    assert!(matches!(parse(r.build()), GgufError::Truncated { .. }));
    let mut r = Raw::header(3, 0, 1);
    r.string("k").u32(8).u64(1 << 62);
    assert!(matches!(parse(r.build()), GgufError::Truncated { .. }));
    let mut r = Raw::header(3, 0, 1);
    r.string("arr").u32(9).u32(10).u64(u64::MAX / 2);
    let e = parse(r.build());
    assert!(e.to_string().contains("`arr`"), "{e}");
    assert!(matches!(
        parse(Raw::header(3, u64::MAX, 0).build()),
        GgufError::Truncated { .. }
    ));
    assert!(matches!(
        parse(Raw::header(3, 0, u64::MAX).build()),
        GgufError::Truncated { .. }
    ));
    let mut r = Raw::header(3, 1, 0);
    r.u64(1 << 40);
    assert!(matches!(parse(r.build()), GgufError::Truncated { .. }));
}

#[test]
fn unknown_value_types_are_errors() {
    let mut r = Raw::header(3, 0, 1);
    r.string("weird.key").u32(13).u32(0);
    let e = parse(r.build());
    assert!(matches!(e, GgufError::UnknownValueType { type_id: 13, .. }));
    assert!(e.to_string().contains("`weird.key`"), "{e}");
    let mut r = Raw::header(3, 0, 1);
    r.string("arr").u32(9).u32(77).u64(1).u64(0);
    assert!(matches!(
        parse(r.build()),
        GgufError::UnknownValueType { type_id: 77, .. }
    ));
}

#[test]
fn deep_nesting_is_rejected() {
    let mut r = Raw::header(3, 0, 1);
    r.string("deep").u32(9);
    for _ in 0..100 {
        r.u32(9).u64(1);
    }
    r.u32(0).u64(0);
    assert!(matches!(parse(r.build()), GgufError::NestingTooDeep { .. }));
}

#[test]
fn invalid_utf8_and_duplicates() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(2).bytes(&[0xff, 0xfe]).u32(4).u32(0);
    assert!(matches!(parse(r.build()), GgufError::InvalidUtf8 { .. }));
    let mut r = Raw::header(3, 0, 2);
    r.kv_u32("a", 1).kv_u32("a", 2);
    assert!(matches!(parse(r.build()), GgufError::DuplicateKey(ref k) if k == "a"));
    let mut r = Raw::header(3, 2, 0);
    r.tensor("t", &[1], 0, 0)
        .tensor("t", &[1], 0, 32)
        .pad(32)
        .bytes(&[0; 64]);
    assert!(matches!(parse(r.build()), GgufError::DuplicateTensor(ref n) if n == "t"));
}

#[test]
fn too_many_dims() {
    let e = parse(one_tensor(&[1, 1, 1, 1, 1], 0, 0, 4));
    assert!(matches!(e, GgufError::TooManyDims { n_dims: 5, .. }));
    assert!(
        e.to_string().contains("tensor `w` has `5` dimensions"),
        "{e}"
    );
    let f = GgufFile::from_bytes(one_tensor(&[1, 1, 1, 1], 0, 0, 4)).unwrap();
    assert_eq!(f.dequantize("w").unwrap(), vec![0.0]);
}

#[test]
fn dims_overflow() {
    let e = parse(one_tensor(&[u64::MAX, 2], 0, 0, 0));
    assert!(matches!(e, GgufError::SizeOverflow { .. }), "{e}");
    let e = parse(one_tensor(&[1 << 62], 0, 0, 0));
    assert!(
        matches!(e, GgufError::SizeOverflow { .. }),
        "byte size overflow: {e}"
    );
    let e = parse(one_tensor(&[1 << 40, 1 << 30], 8, 0, 0));
    assert!(matches!(e, GgufError::SizeOverflow { .. }), "{e}");
}

#[test]
fn row_not_multiple_of_block() {
    let e = parse(one_tensor(&[33, 2], 8, 0, 68));
    assert!(
        matches!(
            e,
            GgufError::NotBlockMultiple {
                row_len: 33,
                block: 32,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("`Q8_0`"));
    let e = parse(one_tensor(&[128], 12, 0, 144));
    assert!(
        matches!(e, GgufError::NotBlockMultiple { block: 256, .. }),
        "{e}"
    );
}

#[test]
fn misaligned_offset() {
    let e = parse(one_tensor(&[4], 0, 4, 64));
    assert!(
        matches!(
            e,
            GgufError::MisalignedTensor {
                offset: 4,
                alignment: 32,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_alignment_values() {
    for bad in [0u32, 3, 48] {
        let mut r = Raw::header(3, 0, 1);
        r.kv_u32("general.alignment", bad);
        assert!(
            matches!(parse(r.build()), GgufError::BadAlignment(_)),
            "{bad}"
        );
    }
    let mut r = Raw::header(3, 0, 1);
    r.string("general.alignment").u32(8).string("32");
    assert!(matches!(parse(r.build()), GgufError::BadAlignment(_)));
}

#[test]
fn unsupported_types_name_tensor_and_type() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("blk.0.attn_q.weight", &[256], 16, 0)
        .tensor("odd", &[4], 1000, 96)
        .pad(32);
    r.bytes(&[0; 128]);
    let f = GgufFile::from_bytes(r.build()).unwrap();
    let e = f.dequantize("blk.0.attn_q.weight").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `blk.0.attn_q.weight` has unsupported type `IQ2_XXS` (id 16)"
    );
    let e = f.dequantize("odd").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tensor `odd` has unsupported type `unknown` (id 1000)"
    );
    assert!(f.tensor_data("odd").is_err());
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let e = GgufFile::open(&missing).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }));
    assert!(e.to_string().contains("missing.gguf"), "{e}");
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGML\x03\0\0\0").unwrap();
    let e = GgufFile::open(&bad).unwrap_err();
    assert!(
        e.to_string().contains("bad.gguf") && e.to_string().contains("GGML"),
        "{e}"
    );
    assert!(matches!(e.root(), GgufError::BadMagic { .. }));
}
