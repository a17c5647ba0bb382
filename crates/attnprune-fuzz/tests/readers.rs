//! Every file reader fed damaged files: GGUF, safetensors, `tokenizer.json`, the mask file, the
//! candidate list, the Parquet sample table, the prompt set. At least 10^5 seeded cases each
//! (`ATTNPRUNE_FUZZ_CASES` changes it), no panic, and bounded memory: a counting allocator
//! refuses any single allocation over [`LIMIT`] (a header claiming a huge tensor or count
//! must be checked against the file's length before anything is allocated) and the peak of
//! live memory is checked after each reader. `make test` runs it with `--nocapture`, so the
//! counts are printed.
#![allow(clippy::unwrap_used)]

use attnprune_fuzz::{cases, run};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation a reader may make on these small inputs (all seeds are
/// under 20 KB; a reader that trusts a length field asks for gigabytes).
const LIMIT: usize = 64 << 20;
/// The most live heap memory the test may hold at once.
const PEAK_LIMIT: usize = 512 << 20;
/// Cases per reader.
const CASES: u64 = 100_000;

#[allow(unsafe_code)]
mod counting {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::io::Write;

    pub static LIVE: AtomicUsize = AtomicUsize::new(0);
    pub static PEAK: AtomicUsize = AtomicUsize::new(0);
    /// Which reader and case are running (for the message of a refused allocation).
    pub static READER: AtomicUsize = AtomicUsize::new(0);

    /// System's allocator, counting live bytes, refusing allocations over [`LIMIT`].
    pub struct Counting;

    fn refuse(size: usize) {
        // No allocation here: a fixed message, the size in decimal from a stack buffer.
        let mut digits = [0u8; 20];
        let mut n = size;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut err = std::io::stderr();
        let _ = err.write_all(b"\nfuzz: a reader asked for ");
        let _ = err.write_all(&digits[i..]);
        let _ = err.write_all(b" bytes at once (over the limit): it trusts a size field; reader #");
        let _ = err.write_all(&[b'0' + READER.load(Ordering::Relaxed) as u8, b'\n']);
    }

    fn grew(size: usize) {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.size() > LIMIT {
                refuse(layout.size());
                return std::ptr::null_mut();
            }
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if layout.size() > LIMIT {
                refuse(layout.size());
                return std::ptr::null_mut();
            }
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if new_size > LIMIT {
                refuse(new_size);
                return std::ptr::null_mut();
            }
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
                grew(new_size);
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// Runs one reader under the memory bounds (the tests of this file run one at a time: the
/// peak is per reader).
fn fuzz<F: FnMut(&[u8]) -> bool>(id: usize, name: &str, seeds: &[Vec<u8>], text: bool, read: F) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    counting::READER.store(id, Ordering::Relaxed);
    counting::PEAK.store(counting::LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let n = cases(CASES);
    let out = run(name, seeds, n, text, read);
    assert_eq!(out.cases, n);
    let peak = counting::PEAK.load(Ordering::Relaxed);
    eprintln!(
        "fuzz {name:<14} peak live heap {:.1} MiB",
        peak as f64 / (1 << 20) as f64
    );
    assert!(peak < PEAK_LIMIT, "{name}: {peak} bytes live at once");
}

/// A scratch folder in memory where there is one (/dev/shm): a case writes its file, and a
/// disk write per case would dominate the test's time.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn gguf() {
    use attnprune_gguf::{GgmlType, GgufFile, GgufWriter};
    let values: Vec<f32> = (0..512)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    let mut w = GgufWriter::new();
    w.add_string("general.architecture", "llama")
        .add_u32("llama.block_count", 2)
        .add_f32("llama.rope.freq_base", 10000.0)
        .add_string_array("tokenizer.ggml.tokens", &["a", "b", "<s>"]);
    w.add_tensor("f32", &[4, 8], GgmlType::F32, &values[..32])
        .unwrap();
    w.add_tensor("f16", &[2, 32], GgmlType::F16, &values[..64])
        .unwrap();
    w.add_tensor("q8_0", &[32], GgmlType::Q8_0, &values[..32])
        .unwrap();
    // The block types the writer does not encode: patterned bytes (the f16 scales stay finite).
    let raw = |n: usize| -> Vec<u8> { (0..n).map(|i| (i * 7 % 61) as u8).collect() };
    w.add_raw_tensor("q4_0", &[32, 2], GgmlType::Q4_0, raw(2 * 18))
        .unwrap();
    w.add_raw_tensor("q5_1", &[32], GgmlType::Q5_1, raw(24))
        .unwrap();
    w.add_raw_tensor("q4_k", &[256], GgmlType::Q4K, raw(144))
        .unwrap();
    w.add_raw_tensor("q6_k", &[256], GgmlType::Q6K, raw(210))
        .unwrap();
    w.add_raw_tensor("bf16", &[8], GgmlType::BF16, raw(16))
        .unwrap();
    let seed = w.to_bytes().unwrap();
    fuzz(0, "gguf", &[seed], false, |bytes| {
        let Ok(file) = GgufFile::from_bytes(bytes.to_vec()) else {
            return false;
        };
        for info in &file.tensors {
            if let Ok(values) = file.dequantize(&info.name) {
                assert_eq!(values.len(), info.num_elements());
            }
        }
        for (key, value) in &file.metadata {
            let _ = (value.as_u64(), value.as_f64(), value.as_str());
            let _ = file.meta_string_array(key);
        }
        true
    });
}

#[test]
fn safetensors() {
    use attnprune_lm::weights::WeightMap;
    use safetensors::tensor::{Dtype, TensorView};
    let dir = scratch();
    let f32s: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    let f16s: Vec<u8> = (0..16)
        .flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = (0..8)
        .flat_map(|i| half::bf16::from_f32(-(i as f32)).to_le_bytes())
        .collect();
    let tensors = vec![
        (
            "model.a.weight",
            TensorView::new(Dtype::F32, vec![4, 6], &f32s).unwrap(),
        ),
        (
            "model.b.weight",
            TensorView::new(Dtype::F16, vec![16], &f16s).unwrap(),
        ),
        (
            "model.c.bias",
            TensorView::new(Dtype::BF16, vec![2, 2, 2], &bf16s).unwrap(),
        ),
    ];
    let seed = safetensors::serialize(tensors, &None).unwrap();
    let path = dir.path().join("model.safetensors");
    fuzz(1, "safetensors", &[seed], false, |bytes| {
        write(&path, bytes);
        let mut map = WeightMap::default();
        map.read_safetensors(&path).is_ok()
    });
}

#[test]
fn tokenizer_json() {
    use attnprune_tokenizer::{tiny_byte_level_tokenizer, Tokenizer};
    // A small but complete byte-level BPE tokenizer.json (the tiny test models' kind, 40 merges,
    // ~7 KB): a real checkpoint's (megabytes) parses too slowly for 10^5 cases.
    let dir = scratch();
    let seed_path = dir.path().join("seed.json");
    tiny_byte_level_tokenizer("the cat sat on the mat; the dog sat on the log.", 40)
        .unwrap()
        .save(&seed_path)
        .unwrap();
    let seed = std::fs::read(&seed_path).unwrap();
    let path = dir.path().join("tokenizer.json");
    fuzz(2, "tokenizer.json", &[seed], true, |bytes| {
        write(&path, bytes);
        match Tokenizer::from_file(&path, None) {
            Ok(t) => {
                if let Ok(ids) = t.encode("the cat, 42 <|im_end|>", true) {
                    let _ = t.decode(&ids, false);
                }
                true
            }
            Err(_) => false,
        }
    });
}

#[test]
fn mask_json() {
    use attnprune_mask::{HeadLayout, HeadMask, MaskFile};
    let layout = HeadLayout::new(3, 4);
    let bits: Vec<bool> = (0..12).map(|i| i % 5 == 1).collect();
    let mut file = MaskFile::from_mask(&HeadMask::from_bits(layout, bits).unwrap());
    file.extra
        .insert("selection".into(), "{\"bias\": 0.25}".into());
    let seed = file.to_json().into_bytes();
    fuzz(3, "mask", &[seed], true, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        match MaskFile::from_json(text, "fuzz") {
            Ok(f) => {
                let _ = f.to_mask();
                let _ = f.to_mask_for(layout);
                true
            }
            Err(_) => false,
        }
    });
}

#[test]
fn candidate_list() {
    use attnprune_mask::{CandidateList, HeadLayout};
    let seed =
        br#"{"kind": "mask-candidates", "schema_version": 1, "num_layers": 2, "num_heads": 4,
  "unpruned_predicted_bias": 8.08, "unpruned_predicted_perplexity": 628.6,
  "candidates": [
    {"pruned": [[0, 0], [0, 1], [1, 1]], "num_pruned": 3, "restart": 7, "predicted_bias": 4.45,
     "predicted_bias_sd": null, "predicted_perplexity": 630.9, "predicted_perplexity_sd": 21.5},
    {"pruned": [[1, 2]], "num_pruned": 1, "restart": 1, "predicted_bias": 5.86,
     "predicted_bias_sd": 0.1, "predicted_perplexity": 675.2, "predicted_perplexity_sd": null}
  ],
  "provenance": {"stage": "anneal", "args": ["--seed", "0"]}}"#
            .to_vec();
    fuzz(4, "candidates", &[seed], true, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        match CandidateList::from_json(text, "fuzz") {
            Ok(list) => {
                let _ = list.masks();
                for c in &list.candidates {
                    let _ = c.to_mask(HeadLayout::new(2, 4));
                }
                true
            }
            Err(_) => false,
        }
    });
}

#[test]
fn parquet_sample_table() {
    use attnprune_artifact::samples::{read_sample_table, write_sample_table, SampleColumns};
    use attnprune_artifact::samples::{SAMPLE_TABLE_KIND, SAMPLE_TABLE_VERSION};
    use attnprune_artifact::{Provenance, SampleRow, SampleTable};
    use attnprune_mask::{HeadLayout, HeadMask};
    let layout = HeadLayout::new(2, 3);
    let mut provenance = Provenance::new(
        SAMPLE_TABLE_KIND,
        SAMPLE_TABLE_VERSION,
        "sample",
        vec!["sample".into()],
    );
    provenance.layout = Some(layout);
    provenance.seed = Some(0);
    let rows = (0..3u64)
        .map(|id| {
            let mut bits = vec![false; 6];
            bits[id as usize % 6] = id > 0;
            SampleRow {
                mask_id: id,
                origin: if id == 0 {
                    "unpruned".into()
                } else {
                    "random".into()
                },
                mask: HeadMask::from_bits(layout, bits).unwrap(),
                bias: vec![0.1 * id as f64],
                bucket_means: vec![0.2, 0.3],
                logit_bias: vec![0.5 * id as f64],
                logit_bucket_means: vec![-1.0, 0.4],
                perplexity: 10.0 + id as f64,
                window_nll: vec![2.0, 2.5 + id as f64],
                eval_seconds: 0.5,
            }
        })
        .collect();
    let table = SampleTable {
        provenance,
        layout,
        columns: SampleColumns {
            axes: vec!["gender_and_sex".into()],
            buckets: vec![
                ("gender_and_sex".into(), "female".into()),
                ("gender_and_sex".into(), "male".into()),
            ],
            bucket_counts: vec![3, 4],
        },
        rows,
    };
    let dir = scratch();
    let path = dir.path().join("samples.parquet");
    write_sample_table(&path, &table).unwrap();
    let seed = std::fs::read(&path).unwrap();
    fuzz(5, "parquet", &[seed], false, |bytes| {
        write(&path, bytes);
        read_sample_table(&path).is_ok()
    });
}

#[test]
fn prompt_set() {
    use attnprune_measure::prompts::PromptSet;
    // The project's prompt set (data/prompts); each case damages one of its four files.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/prompts");
    let names = [
        "descriptors.json",
        "nouns.json",
        "sentence_templates.json",
        "standalone_noun_phrases.json",
    ];
    let seeds: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(source.join(n)).unwrap())
        .collect();
    let dir = scratch();
    for (n, s) in names.iter().zip(&seeds) {
        write(&dir.path().join(n), s);
    }
    // `run` hands over the damaged bytes only: find which file they came from by the case
    // order (case i damages seed i mod 4), restoring the previous file first.
    let mut case = 0usize;
    fuzz(6, "prompt set", &seeds, true, |bytes| {
        // The seeds' own check comes first (4 calls), then the cases in order.
        let file = case % names.len();
        case += 1;
        let path = dir.path().join(names[file]);
        write(&path, bytes);
        let ok = match PromptSet::load(dir.path()) {
            Ok(set) => {
                for axis in set.axes() {
                    let _ = set.buckets(&axis);
                    let _ = set.all_prompts(&axis);
                }
                true
            }
            Err(_) => false,
        };
        write(&path, &seeds[file]);
        ok
    });
}
