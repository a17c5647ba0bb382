#!/usr/bin/env python3
"""Print gguf-py reference checksums for the SmolLM2 model test (run by hand).

The numbers printed here are pasted into tests/real_model.rs. Flat indices are
in row-major order (GGUF dims reversed), matching GgufFile::dequantize.

Usage: /work/pyenv/bin/python crates/attnprune-gguf/tests/model_checksums.py
"""

from pathlib import Path

import numpy as np
import gguf
from gguf.quants import dequantize

MODEL = Path(__file__).resolve().parents[3] / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"
NAMES = [
    "token_embd.weight",
    "blk.0.attn_q.weight",
    "blk.0.attn_norm.weight",
    "blk.29.ffn_down.weight",
    "output_norm.weight",
]

reader = gguf.GGUFReader(MODEL)
tensors = {t.name: t for t in reader.tensors}
for name in NAMES:
    t = tensors[name]
    x = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(-1)
    x64 = x.astype(np.float64)
    idx = [0, 1, 100, len(x) // 2 + 7, len(x) - 1]
    elems = ", ".join(f"({i}, {float(x[i])!r})" for i in idx)
    print(f'("{name}", "{t.tensor_type.name}", {len(x)}, {float(x64.sum())!r}, {float((x64 * x64).sum())!r}, &[{elems}]),')
