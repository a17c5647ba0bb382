#!/usr/bin/env python3
"""Regenerate the dequantization fixtures for attnprune-gguf (run by hand).

Writes, next to this script:
  fixtures/quants.gguf          one small tensor per supported ggml type, plus
                                metadata of every GGUF value kind; written by
                                gguf-py with general.alignment = 64.
  fixtures/quants_expected.gguf F32 tensors of the same names holding gguf-py's
                                dequantization of each tensor above, and
                                `<name>.source` (the f32 input) for tensors
                                that gguf-py quantized itself.

Tensors named `<TYPE>.q` were quantized by gguf-py from random floats;
`<TYPE>.r` hold random block bytes with sane f16 scale fields (used for the
K-quants, which gguf-py cannot quantize, and as extra coverage for the rest).

Usage: /work/pyenv/bin/python crates/attnprune-gguf/tests/make_quant_fixtures.py
Requires gguf (gguf-py 0.19) and numpy.
"""

from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = Path(__file__).resolve().parent / "fixtures"
RNG = np.random.default_rng(20240611)

# Byte offsets of f16 scale fields inside one block, per type.
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_floats(shape):
    """Normal values with a per-row offset so min-based types see non-zero minima."""
    offset = RNG.normal(0.0, 0.5, size=(shape[0], 1))
    return (RNG.normal(0.0, 1.0, size=shape) + offset).astype(np.float32)


def random_blocks(qtype, n_blocks):
    """Random block bytes whose f16 scale fields hold sane random values."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = RNG.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for off in SCALE_FIELDS[qtype]:
        scale = RNG.uniform(0.001, 0.05, size=n_blocks).astype(np.float16)
        scale *= np.where(RNG.random(n_blocks) < 0.2, -1, 1).astype(np.float16)
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return raw


def special_halves(n):
    """Random 16-bit patterns (all exponents, incl. inf/NaN/subnormal) as uint8 pairs."""
    bits = RNG.integers(0, 1 << 16, size=n, dtype=np.uint16)
    bits[:6] = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x7E00]
    return bits


def add_metadata(w):
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 1.5)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo wörld")
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", 2.25)
    w.add_array("test.strings", ["a", "", "ümlaut", "<|endoftext|>"])
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.5, -0.25])
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_custom_alignment(64)


def main():
    OUT.mkdir(exist_ok=True)
    w = gguf.GGUFWriter(OUT / "quants.gguf", "testarch")
    add_metadata(w)
    sources = {}
    for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
        values = random_floats((4, 64))
        name = f"{qtype.name}.q"
        sources[name] = values
        w.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)
    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
        block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
        rows, cols = (2, 512) if block_size == 256 else (4, 64)
        raw = random_blocks(qtype, rows * cols // block_size)
        w.add_tensor(f"{qtype.name}.r", raw.reshape(rows, -1), raw_dtype=qtype)
    for qtype in [T.F16, T.BF16]:
        bits = special_halves(3 * 32).reshape(3, 32)
        w.add_tensor(f"{qtype.name}.r", bits.view(np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_expected(sources)


def write_expected(sources):
    """Dequantize what gguf-py reads back from quants.gguf; store as F32."""
    reader = gguf.GGUFReader(OUT / "quants.gguf")
    w = gguf.GGUFWriter(OUT / "quants_expected.gguf", "testarch")
    for t in reader.tensors:
        values = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
        values = values.reshape(-1, int(t.shape[0]))
        w.add_tensor(t.name, values)
        if t.name in sources:
            w.add_tensor(t.name + ".source", sources[t.name])
        print(f"{t.name:10} {t.tensor_type.name:5} dims={list(t.shape)} bytes={t.n_bytes}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
