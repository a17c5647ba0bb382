#!/usr/bin/env python3
"""The peer of `device-check`'s throughput on a GPU: PyTorch (HF transformers) on the same device.

    python3 tools/gpu_peer.py --gguf data/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --device cuda --batches 8,64,256 --out results/gpu-bf16/peer.json

`device-check` reports our prefill and generation rates in bf16 and f32 with their share of
the device's peak; a share means little without the peer's on the same device in the same
run. This loads the same GGUF in transformers (dequantized to float32, then cast to each
--dtypes) and times, for every attention implementation in --attn:

  * prefill: one forward of `batch` sequences of --seq tokens, logits at every position
    (device-check's "prefill 128 tokens, all logits");
  * generation: `model.generate`, greedy, 16 new tokens after 13 (device-check's workload).

The token ids are device-check's ((1000 + 7919 i) mod vocab; prompts (500 + 31 b + 17 j) mod
vocab), the FLOP count is its count (the projections and the LM head; the attention scores
left out), and each shape runs once untimed and then --repeats times between two
`torch.cuda.synchronize()` calls (median). scripts/gpu-bf16.sh's `peer` step runs it; the
device image there holds torch and transformers, and the `gguf` package travels as a wheel.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
import transformers  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(device, repeats, fn):
    """Median wall seconds of `repeats` calls of fn after one untimed call."""
    times = []
    for r in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        if r > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops_per_token(config):
    """device-check's count: (body, head) FLOPs of one token (2 per multiply-add)."""
    d, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    hq, hkv = config.num_attention_heads, config.num_key_value_heads
    hd = getattr(config, "head_dim", None) or d // hq
    per_layer = d * (hq + 2 * hkv) * hd + hq * hd * d + 3 * d * i
    return 2.0 * config.num_hidden_layers * per_layer, 2.0 * d * v


def set_attention(model, attn):
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(attn)
    else:
        model.config._attn_implementation = attn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True, help="the model file (GGUF)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="8,64,256", help="comma-separated batch sizes")
    ap.add_argument("--seq", type=int, default=128, help="prefill tokens per sequence")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtypes", default="bf16,f32", help="comma-separated: bf16, f32")
    ap.add_argument("--attn", default="sdpa,eager",
                    help="comma-separated attention implementations of transformers")
    ap.add_argument("--peak-bf16", type=float, default=989.0,
                    help="dense bf16 peak in TFLOP/s (H100/H200 SXM datasheet)")
    ap.add_argument("--peak-f32", type=float, default=67.0,
                    help="plain fp32 peak in TFLOP/s (H100/H200 SXM datasheet)")
    ap.add_argument("--no-generate", action="store_true", help="prefill only")
    ap.add_argument("--out", required=True, help="JSON report")
    args = ap.parse_args()

    device = torch.device(args.device)
    gguf = Path(args.gguf)
    batches = [int(b) for b in args.batches.split(",") if b]
    print(f"loading {gguf} in transformers {transformers.__version__}", file=sys.stderr, flush=True)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    config = model.config
    body, head = flops_per_token(config)
    vocab = config.vocab_size
    rows = []
    base = model
    for dtype_name in [d for d in args.dtypes.split(",") if d]:
        # A fresh copy per format: casting one model down and back would round its f32 weights.
        model = copy.deepcopy(base).to(device=device, dtype=DTYPES[dtype_name])
        peak = args.peak_bf16 if dtype_name == "bf16" else args.peak_f32
        for attn in [a for a in args.attn.split(",") if a]:
            set_attention(model, attn)
            for b in batches:
                ids = torch.tensor([[(1000 + i * 7919) % vocab for i in range(args.seq)]] * b, device=device)

                def prefill():
                    with torch.inference_mode():
                        return model(input_ids=ids, use_cache=False).logits

                t = median_seconds(device, args.repeats, prefill)
                tokens = b * args.seq
                tflops = tokens * (body + head) / t / 1e12
                rows.append({"dtype": dtype_name, "attn": attn, "workload": f"prefill {args.seq} tokens, all logits",
                             "batch": b, "tokens_per_second": tokens / t, "seconds_median": t,
                             "tflops": tflops, "share_of_peak": tflops / peak})
                line = f"{dtype_name} {attn} batch {b}: prefill {tokens / t:,.0f} tok/s, {tflops:.1f} TFLOP/s ({100 * tflops / peak:.2f}% of {peak:g})"
                if not args.no_generate:
                    prompts = torch.tensor([[(500 + i * 31 + j * 17) % vocab for j in range(13)] for i in range(b)],
                                           device=device)
                    mask = torch.ones_like(prompts)

                    def generate():
                        with torch.inference_mode():
                            return model.generate(input_ids=prompts, attention_mask=mask, max_new_tokens=16,
                                                  min_new_tokens=16, do_sample=False, pad_token_id=0)

                    t = median_seconds(device, args.repeats, generate)
                    tflops = (b * (13 + 15) * body + b * 16 * head) / t / 1e12
                    rows.append({"dtype": dtype_name, "attn": attn,
                                 "workload": "generate 16 new tokens after 13 (new tokens/s)", "batch": b,
                                 "tokens_per_second": b * 16 / t, "seconds_median": t, "tflops": tflops,
                                 "share_of_peak": tflops / peak})
                    line += f"; generation {b * 16 / t:,.0f} new tok/s"
                print(line, file=sys.stderr, flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report = {
        "command": sys.argv,
        "peer": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)
    print(f"report in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
