//! Seeded mutation testing: thousands of corrupted variants of a valid file
//! must never make `from_bytes` or `dequantize` panic.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use attnprune_gguf::GgufFile;
use common::XorShift;

/// Values that tend to break length and offset arithmetic.
const NASTY: [u64; 8] = [0, 1, 31, 255, 1 << 31, u32::MAX as u64, 1 << 62, u64::MAX];

fn mutate(rng: &mut XorShift, bytes: &mut Vec<u8>) {
    let len = bytes.len();
    match rng.below(6) {
        0 => bytes.truncate(rng.below(len)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(len);
            bytes[i] = rng.next() as u8;
        }
        3 => {
            let i = rng.below(len.saturating_sub(8));
            let v = NASTY[rng.below(NASTY.len())].to_le_bytes();
            let width = [1, 2, 4, 8][rng.below(4)];
            bytes[i..i + width].copy_from_slice(&v[..width]);
        }
        4 => {
            let i = rng.below(len);
            let n = 1 + rng.below(16);
            bytes.splice(i..i, rng.bytes(n));
        }
        _ => {
            let i = rng.below(len);
            let end = (i + 1 + rng.below(16)).min(len);
            bytes.drain(i..end);
        }
    }
}

/// Exercise everything a consumer would do with a parsed file.
fn exercise(f: &GgufFile) {
    for t in &f.tensors {
        let _ = t.shape();
        if let Ok(v) = f.dequantize(&t.name) {
            assert_eq!(v.len(), t.num_elements());
        }
    }
    for (k, v) in &f.metadata {
        let _ = (v.as_u64(), v.as_f64(), v.as_str(), v.type_name());
        let _ = f.meta_string_array(k);
    }
    let _ = f.architecture();
}

#[test]
fn mutated_files_never_panic() {
    let original = common::sample_file();
    exercise(&GgufFile::from_bytes(original.clone()).unwrap());
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..4000 {
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(3) {
            if !bytes.is_empty() {
                mutate(&mut rng, &mut bytes);
            }
        }
        match GgufFile::from_bytes(bytes) {
            Ok(f) => {
                exercise(&f);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                err += 1;
            }
        }
    }
    assert!(ok > 100 && err > 100, "ok={ok} err={err}");
}

#[test]
fn random_garbage_after_magic_never_panics() {
    let mut rng = XorShift(42);
    for _ in 0..2000 {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend_from_slice(&[3, 0, 0, 0]);
        let n = rng.below(200);
        bytes.extend(rng.bytes(n));
        if let Ok(f) = GgufFile::from_bytes(bytes) {
            exercise(&f);
        }
    }
}
