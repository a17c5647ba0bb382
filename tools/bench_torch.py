#!/usr/bin/env python3
"""The PyTorch side of `make bench`: workloads 1-3 and 6 of attnprune-bench in HF transformers.

    python tools/bench_torch.py --spec results/bench/spec.json --out results/bench/pytorch.json

Reads the workload spec written by `attnprune-bench` (token ids made by OUR tokenizer, the
pruned heads, the demo's prompts, canned replies and perplexity windows), loads the same GGUF
in transformers (float32, dense, like tools/make_fixtures.py) and runs, on the CPU with the
spec's thread count:

 1. masked forward (prefill): one forward of the batch, logits at every position;
 2. reply generation: `model.generate`, greedy, KV cache, left padding, in calls of the
    spec's batch size, no stop token (every reply has exactly max_new_tokens tokens);
 3. one mask evaluation as `attnprune_eval::Evaluator::evaluate` does it for the demo
    (reply-likelihood scorer): run the prompts' shared prefix once and keep its KV cache;
    per prompt, extend that cache with the rest of the prompt, then score all canned replies
    as one batch on the repeated cache; score = sigmoid(log-mean-exp(neg) - log-mean-exp(pos));
    FASP bias per axis with a 1000-resample bootstrap; perplexity windows in batches, each
    window scored alone;
 6. the demo screening's mix of masks (knockouts and random masks, the spec's list), each
    evaluated as in 3 with the screening protocol, one after the other.

Pruning head h of layer l zeroes columns h*head_dim..(h+1)*head_dim of the input of
layers[l].self_attn.o_proj (a forward_pre_hook multiplying by a 0/1 vector), the project's
definition (tools/README.md).

Each workload runs once untimed, then `repeats` times (the spec's); writes JSON with the same
layout as attnprune-bench's output (median, min, max, every run), plus the outputs (replies,
scores, perplexity) that bench_merge.py compares with ours.
"""

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent


def resolve(p):
    p = Path(p)
    return p if p.is_absolute() else ROOT / p


def metric(unit, higher_is_better, runs):
    s = sorted(runs)
    n = len(s)
    median = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"unit": unit, "higher_is_better": higher_is_better, "median": median, "min": s[0], "max": s[-1], "runs": list(runs)}


def time_repeats(repeats, fn):
    """One untimed warm-up, then `repeats` timed runs; returns (seconds, last output)."""
    out = fn()
    secs = []
    for r in range(repeats):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        print(f"  run {r + 1}/{repeats}: {dt:.3f} s", file=sys.stderr, flush=True)
        secs.append(dt)
    return secs, out


def rates(amount, secs):
    return [amount / max(s, 1e-12) for s in secs]


# --------------------------------------------------------------------------
# Model and pruning
# --------------------------------------------------------------------------


def load_model(gguf_path, attn):
    from transformers import AutoModelForCausalLM

    folder, name = str(gguf_path.parent), gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, attn_implementation=attn)
    model.eval()
    for pname, p in model.named_parameters():
        if p.dtype != torch.float32:
            raise SystemExit(f"{pname} is {p.dtype}, not float32")
    return model


class Pruner:
    """forward_pre_hook on o_proj of every layer with pruned heads: input * keep (0 on pruned heads' columns)."""

    def __init__(self, model, pruned):
        cfg = model.config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        by_layer = {}
        for layer, head in pruned:
            by_layer.setdefault(layer, []).append(head)
        self.handles = []
        for idx, heads in by_layer.items():
            o_proj = model.model.layers[idx].self_attn.o_proj
            keep = torch.ones(o_proj.in_features, dtype=torch.float32)
            for h in heads:
                keep[h * head_dim : (h + 1) * head_dim] = 0
            self.handles.append(o_proj.register_forward_pre_hook(self._hook(keep)))

    @staticmethod
    def _hook(keep):
        def hook(module, args):
            return (args[0] * keep.to(args[0].dtype),) + tuple(args[1:])

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------


def run_prefill(model, spec, repeats, pruned):
    ids = torch.tensor(spec["token_ids"], dtype=torch.long)
    b, s = ids.shape

    @torch.inference_mode()
    def once():
        return model(input_ids=ids, use_cache=False).logits.shape

    secs, _ = time_repeats(repeats, once)
    return {
        "id": 1,
        "name": "masked forward (prefill)",
        "description": f"model(input_ids) on {b} x {s} tokens, {pruned} heads pruned, logits at every position",
        "warmup": 1,
        "repeats": repeats,
        "primary": "tokens_per_s",
        "metrics": {"tokens_per_s": metric("tokens/s", True, rates(b * s, secs)), "seconds": metric("s", False, secs)},
        "info": {"batch": b, "tokens": b * s},
    }, None


def run_generate(model, spec, repeats, pruned):
    from transformers import GenerationConfig

    pad = spec["pad_id"]
    n_new = spec["max_new_tokens"]
    # No stop token, like the spec (and without min_new_tokens, which would suppress EOS's logit
    # and change greedy choices): unset generate's default eos, which it would merge in otherwise.
    model.generation_config.eos_token_id = None
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n_new, pad_token_id=pad)
    bs = max(1, spec["batch_size"])
    batches = []
    for i in range(0, len(spec["prompts"]), bs):
        chunk = spec["prompts"][i : i + bs]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], dtype=torch.long)
        att = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], dtype=torch.long)
        batches.append((ids, att))

    @torch.inference_mode()
    def once():
        out = []
        for ids, att in batches:
            gen = model.generate(ids, attention_mask=att, generation_config=gc)
            out.extend(gen[:, ids.shape[1] :].tolist())
        return out

    secs, replies = time_repeats(repeats, once)
    if any(len(r) != n_new for r in replies):
        raise SystemExit(f"generate stopped early: reply lengths {sorted(set(len(r) for r in replies))}, expected {n_new}")
    new_tokens = sum(len(r) for r in replies)
    prompt_tokens = sum(len(p) for p in spec["prompts"])
    n = len(spec["prompts"])
    return {
        "id": 2,
        "name": "reply generation",
        "description": (
            f"model.generate: {n} prompts ({prompt_tokens / max(n, 1):.1f} tokens on average) in calls of {bs}, "
            f"{n_new} new tokens each, greedy, KV cache, {pruned} heads pruned"
        ),
        "warmup": 1,
        "repeats": repeats,
        "primary": "new_tokens_per_s",
        "metrics": {"new_tokens_per_s": metric("new tokens/s", True, rates(new_tokens, secs)), "seconds": metric("s", False, secs)},
        "info": {"prompts": n, "prompt_tokens": prompt_tokens, "new_tokens": new_tokens},
    }, {"new_ids": replies}


class Context:
    def __init__(self, cache, length, next_logp):
        self.cache, self.length, self.next_logp = cache, length, next_logp


def extend_context(model, base, tokens):
    """attnprune_lm::continuation::extend_context: run `tokens` after `base`, keep the cache."""
    from transformers import DynamicCache

    if not tokens:
        return base
    cache = copy.deepcopy(base.cache) if base is not None else DynamicCache(config=model.config)
    start = base.length if base is not None else 0
    ids = torch.tensor([tokens], dtype=torch.long)
    pos = torch.arange(start, start + len(tokens), dtype=torch.long).unsqueeze(0)
    out = model(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True, logits_to_keep=1)
    next_logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
    return Context(out.past_key_values, start + len(tokens), next_logp)


def continuation_logprobs(model, ctx, continuations):
    """attnprune_lm::continuation::continuation_logprobs: all continuations as one batch on the repeated cache."""
    first = [float(ctx.next_logp[c[0]]) for c in continuations]
    longest = max(len(c) for c in continuations)
    if longest < 2:
        return first
    r, width = len(continuations), longest - 1
    ids = torch.tensor([[c[j] if j < len(c) else 0 for j in range(width)] for c in continuations], dtype=torch.long)
    pos = torch.arange(ctx.length, ctx.length + width, dtype=torch.long).unsqueeze(0).expand(r, width)
    cache = copy.deepcopy(ctx.cache)
    cache.batch_repeat_interleave(r)
    logits = model(input_ids=ids, position_ids=pos, past_key_values=cache, use_cache=True).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    out = []
    for i, c in enumerate(continuations):
        if len(c) > 1:
            idx = torch.tensor(c[1:], dtype=torch.long)
            rest = logp[i, torch.arange(len(c) - 1), idx].double().sum().item()
        else:
            rest = 0.0
        out.append(first[i] + rest)
    return out


def log_mean_exp(values):
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values) / len(values))


def common_prefix_len(prompts):
    if not prompts:
        return 0
    shortest = min(len(p) for p in prompts)
    same = 0
    while same < shortest and all(p[same] == prompts[0][same] for p in prompts):
        same += 1
    return min(same, max(shortest - 1, 0))


def fasp_bias(groups):
    allv = np.concatenate([v for v in groups.values() if len(v)])
    overall = allv.mean()
    return float(sum(abs(overall - v.mean()) for v in groups.values() if len(v)))


def axis_bias(groups, resamples, seed):
    """FASP bias with a percentile bootstrap (group sizes fixed), as attnprune_measure::bias does it."""
    bias = fasp_bias(groups)
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    names = sorted(groups)
    for k in range(resamples):
        stats[k] = fasp_bias({g: rng.choice(groups[g], size=len(groups[g]), replace=True) for g in names})
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return bias, float(lo), float(hi)


def evaluation(model, spec):
    """The evaluator's protocol for one mask (the hooks in place), as a function of no arguments."""
    prompts = spec["prompt_ids"]
    replies = spec["negative_ids"] + spec["positive_ids"]
    n_neg = len(spec["negative_ids"])
    sb = max(1, spec["score_batch"])
    pb = max(1, spec["ppl_batch"])
    if spec["scorer"] != "reply-likelihood":
        raise SystemExit(f"scorer {spec['scorer']!r}: only reply-likelihood (the demo's) is mirrored")

    @torch.inference_mode()
    def once():
        scores = []
        for i in range(0, len(prompts), sb):
            chunk = prompts[i : i + sb]
            plen = common_prefix_len(chunk)
            base = extend_context(model, None, chunk[0][:plen]) if plen > 0 else None
            for p in chunk:
                ctx = extend_context(model, base, p[plen:])
                logp = continuation_logprobs(model, ctx, replies)
                x = log_mean_exp(logp[:n_neg]) - log_mean_exp(logp[n_neg:])
                scores.append(1.0 / (1.0 + math.exp(-x)))
        bias = {}
        for axis in sorted(set(spec["axes"])):
            groups = {}
            for a, b, s in zip(spec["axes"], spec["buckets"], scores):
                if a == axis:
                    groups.setdefault(b, []).append(s)
            groups = {k: np.array(v) for k, v in groups.items()}
            bias[axis] = axis_bias(groups, spec["bootstrap_resamples"], 0)[0]
        nll, count = 0.0, 0
        windows = spec["windows"]
        for i in range(0, len(windows), pb):
            ids = torch.tensor(windows[i : i + pb], dtype=torch.long)
            logits = model(input_ids=ids, use_cache=False).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            picked = logp.gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2)
            nll -= picked.double().sum().item()
            count += picked.numel()
        return {"scores": scores, "perplexity": math.exp(nll / count), "bias": bias}

    return once


def run_evaluate(model, spec, repeats, pruned):
    prompts = spec["prompt_ids"]
    replies = spec["negative_ids"] + spec["positive_ids"]
    secs, out = time_repeats(repeats, evaluation(model, spec))
    return {
        "id": 3,
        "name": "one mask evaluation (demo protocol)",
        "description": (
            f"the evaluator's protocol in PyTorch: {len(prompts)} prompts scored by {spec['scorer']} "
            f"({len(replies)} canned replies), bias with {spec['bootstrap_resamples']} bootstrap resamples, "
            f"perplexity on {len(spec['windows'])} windows; {pruned} heads pruned"
        ),
        "warmup": 1,
        "repeats": repeats,
        "primary": "seconds_per_mask",
        "metrics": {"masks_per_hour": metric("masks/h", True, rates(3600.0, secs)), "seconds_per_mask": metric("s", False, secs)},
        "info": {"prompts": len(prompts), "windows": len(spec["windows"]), "perplexity": out["perplexity"]},
    }, out


def run_mix(model, spec, repeats, pruned):
    """Workload 6: the same masks as attnprune's mix, evaluated one by one (no layer reuse)."""
    once = evaluation(model, spec["evaluate"])
    masks = [[tuple(p) for p in m["pruned"]] for m in spec["masks"]]

    def all_masks():
        out = {"perplexity": [], "first_score": []}
        for heads in masks:
            pruner = Pruner(model, heads)
            try:
                r = once()
            finally:
                pruner.remove()
            out["perplexity"].append(r["perplexity"])
            out["first_score"].append(r["scores"][0] if r["scores"] else float("nan"))
        return out

    # Warm-up: one mask (the timed runs cover them all).
    once()
    secs, out = [], None
    for r in range(repeats):
        t = time.perf_counter()
        out = all_masks()
        dt = time.perf_counter() - t
        print(f"  run {r + 1}/{repeats}: {dt:.3f} s", file=sys.stderr, flush=True)
        secs.append(dt)
    n = len(masks)
    kinds = spec["kinds"]
    return {
        "id": 6,
        "name": "demo screening mix (sample's machinery)",
        "description": (
            f"the same {n} masks ({kinds.count('knockout')} single-head knockouts, {kinds.count('random')} random, "
            f"{kinds.count('unpruned')} unpruned) with the screening protocol, evaluated one by one"
        ),
        "warmup": 1,
        "repeats": repeats,
        "primary": "masks_per_hour",
        "metrics": {
            "masks_per_hour": metric("masks/h", True, rates(3600.0 * n, secs)),
            "seconds_per_mask": metric("s", False, [s / n for s in secs]),
        },
        "info": {"masks": n},
    }, out


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="results/bench/spec.json", help="workload spec written by attnprune-bench")
    ap.add_argument("--out", default="results/bench/pytorch.json")
    ap.add_argument("--gguf", default=None, help="model file (default: the spec's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the spec's)")
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention implementation (transformers' default: sdpa)")
    ap.add_argument("--workloads", default=None, help="comma-separated subset of the spec's workloads")
    args = ap.parse_args()

    started = time.perf_counter()
    spec = json.loads(resolve(args.spec).read_text())
    threads = args.threads or spec["threads"]
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    wanted = [int(w) for w in args.workloads.split(",")] if args.workloads else spec["workloads"]
    gguf = resolve(args.gguf or spec["model"])
    print(f"loading {gguf} in transformers (float32, {args.attn}), {threads} threads", file=sys.stderr, flush=True)
    model = load_model(gguf, args.attn)
    pruned = [tuple(p) for p in spec["mask"]["pruned"]]
    pruner = Pruner(model, pruned)
    runners = {1: ("prefill", run_prefill), 2: ("generate", run_generate), 3: ("evaluate", run_evaluate), 6: ("mix", run_mix)}
    results, outputs = [], {}
    for w in sorted(wanted):
        key, fn = runners[w]
        if spec.get(key) is None:
            raise SystemExit(f"workload {w}: the spec has no `{key}` section (rerun attnprune-bench with it)")
        repeats = int(spec["repeats"].get(str(w), 5))
        print(f"workload {w}: {key}", file=sys.stderr, flush=True)
        if w == 6:
            pruner.remove()  # workload 6 prunes each of its own masks
        res, out = fn(model, spec[key], repeats, len(pruned))
        results.append(res)
        if out is not None:
            outputs[str(w)] = out
    pruner.remove()

    import transformers

    doc = {
        "tool": "tools/bench_torch.py",
        "command": [sys.executable] + sys.argv,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "threads": threads,
        # The SIMD level of ATen's kernels (ATEN_CPU_CAPABILITY caps it; MKL_ENABLE_INSTRUCTIONS and
        # ONEDNN_MAX_CPU_ISA cap the matrix libraries', as `make bench BENCH_SIMD=avx2` sets them).
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "isa_caps": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")},
        "attn_implementation": args.attn,
        "workloads": results,
        "outputs": outputs,
        "total_seconds": time.perf_counter() - started,
    }
    out_path = resolve(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out_path)
    for r in results:
        m = r["metrics"][r["primary"]]
        print(f"{r['id']} {r['name']}: median {m['median']:.4f} {m['unit']} (min {m['min']:.4f}, max {m['max']:.4f})", file=sys.stderr)
    print(f"wrote {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
