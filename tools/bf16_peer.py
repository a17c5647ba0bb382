#!/usr/bin/env python3
"""The peer's bf16 against its own f32: HF transformers runs SmolLM2 in bfloat16
(eager attention, softmax and RMSNorm in f32, as it does) on the golden fixtures'
cases (tests/fixtures/smollm2/logits.json and ppl.json, made in f32 by
make_fixtures.py), and reports how often the top-5 next tokens stay identical and
how far perplexity moves. attnprune's `--precision bf16` is judged by the same bar
(crates/attnprune-lm/tests/golden_bf16.rs); this says what the bar costs a
mature implementation.

    .venv-bench/bin/python tools/bf16_peer.py --out results/bench/bf16-peer.json
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixtures as mf  # noqa: E402


def top5(v):
    order = np.lexsort((np.arange(v.shape[0]), -v))
    return [int(i) for i in order[:5]]


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=mf.DEFAULT_GGUF)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tok, model, _, _ = mf.load_smollm2(mf.resolve(args.gguf))
    model = model.to(torch.bfloat16)
    pruner = mf.Pruner(model)
    fx = mf.ROOT / "tests/fixtures/smollm2"
    logits_fx = json.loads((fx / "logits.json").read_text())
    cases = []
    for case in logits_fx["cases"]:
        pruner.set(case["pruned"])
        v = mf.last_logits(model, case["ids"]).astype(np.float32)
        want = [p[0] for p in case["top"][:5]]
        diff = max(abs(float(v[i]) - w) for i, w in zip(case["sample_ids"], case["sample_logits"]))
        cases.append({"name": case["name"], "top5_same": top5(v) == want, "bf16_top5": top5(v),
                      "f32_top5": want, "max_abs_logit_diff": diff})
        print(f"{case['name']}: top-5 same {top5(v) == want}; max |logit diff| {diff:.3f}", file=sys.stderr)
    ppl_fx = json.loads((fx / "ppl.json").read_text())
    text = (mf.ROOT / ppl_fx["text_file"]).read_text()
    masks = [(str(len(c["pruned"])), c["pruned"]) for c in ppl_fx["cases"]]
    ppl = mf.smollm2_ppl(tok, model, pruner, masks, text)
    ppl_cases = []
    for got, want in zip(ppl["cases"], ppl_fx["cases"]):
        rel = abs(got["perplexity"] - want["perplexity"]) / want["perplexity"]
        ppl_cases.append({"pruned_heads": len(want["pruned"]), "bf16": got["perplexity"],
                          "f32": want["perplexity"], "relative_diff": rel})
        print(f"{len(want['pruned'])} pruned: bf16 {got['perplexity']:.4f} vs f32 {want['perplexity']:.4f} ({rel:.2e})",
              file=sys.stderr)
    out = {"peer": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, bf16 eager, CPU",
           "logits": cases, "top5_same": sum(c["top5_same"] for c in cases), "cases": len(cases),
           "perplexity": ppl_cases}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    assert all(math.isfinite(c["bf16"]) for c in ppl_cases)


if __name__ == "__main__":
    main()
