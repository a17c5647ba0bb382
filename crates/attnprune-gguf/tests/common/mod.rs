//! Helpers shared by the integration tests: a byte-level GGUF builder for
//! forging malformed files, and a valid sample file made by the writer.
#![allow(dead_code)]

use attnprune_gguf::{GgmlType, GgufWriter, MetadataValue};

/// Appends GGUF primitives to a byte buffer, with no validation at all.
#[derive(Default)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// Magic, version, tensor count, kv count.
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut r = Raw::default();
        r.bytes(b"GGUF").u32(version).u64(n_tensors).u64(n_kv);
        r
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64).bytes(s.as_bytes())
    }
    /// A `u32`-typed metadata entry.
    pub fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.string(key).u32(4).u32(v)
    }
    /// A tensor-table entry.
    pub fn tensor(&mut self, name: &str, dims: &[u64], dtype: u32, offset: u64) -> &mut Self {
        self.string(name).u32(dims.len() as u32);
        for d in dims {
            self.u64(*d);
        }
        self.u32(dtype).u64(offset)
    }
    /// Zero-pad to a multiple of `align`.
    pub fn pad(&mut self, align: usize) -> &mut Self {
        while !self.0.len().is_multiple_of(align) {
            self.0.push(0);
        }
        self
    }
    pub fn build(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// Deterministic pseudo-random generator (xorshift64*).
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A float in [-1, 1).
    pub fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn floats(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.float()).collect()
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Random block bytes for a quantized type with sane f16 scales at `scale_offsets`.
pub fn random_blocks(
    rng: &mut XorShift,
    n_blocks: usize,
    block_bytes: usize,
    scale_offsets: &[usize],
) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..n_blocks {
        let mut block = rng.bytes(block_bytes);
        for &off in scale_offsets {
            let scale = half::f16::from_f32(0.01 + 0.01 * rng.float()).to_le_bytes();
            block[off..off + 2].copy_from_slice(&scale);
        }
        out.extend(block);
    }
    out
}

/// A valid file touching every metadata kind and every supported tensor type.
pub fn sample_file() -> Vec<u8> {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama")
        .add_u32("llama.block_count", 2)
        .add_f32("llama.rope.freq_base", 10000.0)
        .add_string_array("tokenizer.ggml.tokens", &["<s>", "a", "b"])
        .add_metadata("x.i8", MetadataValue::I8(-3))
        .add_metadata("x.u64", MetadataValue::U64(7))
        .add_metadata(
            "x.nested",
            MetadataValue::Array(vec![
                MetadataValue::Array(vec![MetadataValue::Bool(true)]),
                MetadataValue::Array(vec![]),
            ]),
        );
    w.add_tensor("f32", &[2, 32], GgmlType::F32, &rng.floats(64))
        .unwrap();
    w.add_tensor("f16", &[3, 32], GgmlType::F16, &rng.floats(96))
        .unwrap();
    w.add_tensor("q8_0", &[2, 64], GgmlType::Q8_0, &rng.floats(128))
        .unwrap();
    let raw: [(&str, GgmlType, u64, usize, &[usize]); 8] = [
        ("bf16", GgmlType::BF16, 1, 2, &[]),
        ("q4_0", GgmlType::Q4_0, 32, 18, &[0]),
        ("q4_1", GgmlType::Q4_1, 32, 20, &[0, 2]),
        ("q5_0", GgmlType::Q5_0, 32, 22, &[0]),
        ("q5_1", GgmlType::Q5_1, 32, 24, &[0, 2]),
        ("q4_k", GgmlType::Q4K, 256, 144, &[0, 2]),
        ("q5_k", GgmlType::Q5K, 256, 176, &[0, 2]),
        ("q6_k", GgmlType::Q6K, 256, 210, &[208]),
    ];
    for (name, dtype, block, bytes, scales) in raw {
        let data = random_blocks(&mut rng, 2, bytes, scales);
        w.add_raw_tensor(name, &[block, 2], dtype, data).unwrap();
    }
    w.add_raw_tensor("iq2_xxs", &[256], GgmlType::Unsupported(16), rng.bytes(66))
        .unwrap();
    w.to_bytes().unwrap()
}
