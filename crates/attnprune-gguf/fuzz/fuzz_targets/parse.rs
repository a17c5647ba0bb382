//! Fuzz target: parsing arbitrary bytes and dequantizing every tensor of any
//! file that parses must never panic, and lengths must be consistent.
#![no_main]

use attnprune_gguf::GgufFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    for info in &file.tensors {
        if let Ok(values) = file.dequantize(&info.name) {
            assert_eq!(values.len(), info.num_elements());
        }
    }
    for (key, value) in &file.metadata {
        let _ = (
            value.as_u64(),
            value.as_f64(),
            value.as_str(),
            value.type_name(),
        );
        let _ = file.meta_string_array(key);
    }
});
