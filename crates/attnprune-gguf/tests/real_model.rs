//! Checks against the real SmolLM2-135M-Instruct Q4_1 model, if present.
//!
//! Reference numbers come from gguf-py (`tests/model_checksums.py`). The
//! model is not committed; when it is missing the test prints a notice to
//! stderr and passes.
#![allow(clippy::unwrap_used)] // tests may unwrap
// The reference values are gguf-py's exact outputs, printed at full precision.
#![allow(clippy::excessive_precision)]

use std::path::Path;

use attnprune_gguf::{GgmlType, GgufFile};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../data/models/SmolLM2-135M-Instruct.Q4_1.gguf"
);

/// (name, type, element count, sum, sum of squares, [(flat index, value)]).
type Reference = (
    &'static str,
    &'static str,
    usize,
    f64,
    f64,
    &'static [(usize, f32)],
);

const REFERENCE: [Reference; 5] = [
    (
        "token_embd.weight",
        "Q8_0",
        28311552,
        -15353.04449415207,
        520415.71544763993,
        &[
            (0, -0.10654449462890625),
            (1, 0.032978057861328125),
            (100, 0.05316162109375),
            (14155783, 0.12355613708496094),
            (28311551, -0.0417022705078125),
        ],
    ),
    (
        "blk.0.attn_q.weight",
        "Q4_1",
        331776,
        59.22322082519531,
        26749.573275085306,
        &[
            (0, -0.0963134765625),
            (1, 0.1573486328125),
            (100, 0.214111328125),
            (165895, 0.171875),
            (331775, -0.255859375),
        ],
    ),
    (
        "blk.0.attn_norm.weight",
        "F32",
        576,
        0.6129436492919922,
        0.9180835409024439,
        &[
            (0, 0.01397705078125),
            (1, 0.0238037109375),
            (100, -0.047119140625),
            (295, 0.03515625),
            (575, -0.038330078125),
        ],
    ),
    (
        "blk.29.ffn_down.weight",
        "Q4_1",
        884736,
        49.83570861816406,
        29667.074891592143,
        &[
            (0, -0.2733154296875),
            (1, 0.186279296875),
            (100, 0.480316162109375),
            (442375, -0.0155029296875),
            (884735, 0.056640625),
        ],
    ),
    (
        "output_norm.weight",
        "F32",
        576,
        1038.33203125,
        1921.7355499267578,
        &[
            (0, 1.7578125),
            (1, 1.8203125),
            (100, 2.09375),
            (295, 1.78125),
            (575, 1.984375),
        ],
    ),
];

fn open_model() -> Option<GgufFile> {
    if !Path::new(MODEL).exists() {
        eprintln!("skipped: model file not found at {MODEL}");
        return None;
    }
    Some(GgufFile::open(Path::new(MODEL)).unwrap())
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn smollm2_header_and_metadata() {
    let Some(f) = open_model() else { return };
    assert_eq!(f.version, 3);
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.meta_u64("llama.block_count").unwrap(), 30);
    assert_eq!(f.meta_u64("llama.embedding_length").unwrap(), 576);
    assert_eq!(f.meta_u64("llama.attention.head_count").unwrap(), 9);
    assert_eq!(f.meta_u64("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(f.meta_f64("llama.rope.freq_base").unwrap(), 100000.0);
    let tokens = f.meta_string_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(
        &tokens[..3],
        &["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    );
    assert_eq!(
        f.meta_string_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(f.meta_str("tokenizer.ggml.model").unwrap(), "gpt2");
    assert_eq!(f.tensors.len(), 272);
    assert!(
        f.tensor_info("output.weight").is_none(),
        "embeddings are tied"
    );
    for t in &f.tensors {
        assert!(t.dtype.is_supported(), "{} {}", t.name, t.dtype);
    }
}

#[test]
fn smollm2_tensors_match_gguf_py() {
    let Some(f) = open_model() else { return };
    assert_eq!(
        f.tensor_info("token_embd.weight").unwrap().shape(),
        vec![49152, 576]
    );
    assert_eq!(
        f.tensor_info("blk.0.ffn_down.weight").unwrap().shape(),
        vec![576, 1536]
    );
    assert_eq!(
        f.tensor_info("blk.0.attn_k.weight").unwrap().dtype,
        GgmlType::Q4_1
    );
    for (name, dtype, n, sum, sumsq, elems) in REFERENCE {
        let info = f.tensor_info(name).unwrap();
        assert_eq!(info.dtype.name(), dtype, "{name}");
        let v = f.dequantize(name).unwrap();
        assert_eq!(v.len(), n, "{name}");
        let s: f64 = v.iter().map(|&x| f64::from(x)).sum();
        let s2: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!(rel_close(s, sum, 1e-9), "{name}: sum {s} vs {sum}");
        assert!(rel_close(s2, sumsq, 1e-9), "{name}: sumsq {s2} vs {sumsq}");
        for &(i, x) in elems {
            assert_eq!(v[i], x, "{name}[{i}]");
        }
    }
}
