#!/usr/bin/env python3
"""Merges attnprune-bench's and bench_torch.py's JSON into results/bench/bench.json.

    python tools/bench_merge.py --ours results/bench/ours.json --pytorch results/bench/pytorch.json \
        --out results/bench/bench.json [--command "make bench ..."]

For every workload and metric: ours, PyTorch's (workloads 1-3) and the ratio, defined so that
> 1 means attnprune is faster (throughput: ours / PyTorch's; seconds: PyTorch's / ours), from
the medians. Adds the machine (CPU model, cores, OS, rustc, torch and transformers versions)
and checks that both sides computed the same thing (greedy replies, scores, perplexity).
Prints a Markdown table to stdout. Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def resolve(p):
    p = Path(p)
    return p if p.is_absolute() else ROOT / p


def cpuinfo_fields():
    """The first value of each key of /proc/cpuinfo (the first core's), {} where it is unreadable."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model():
    return cpuinfo_fields().get("model name") or platform.processor() or platform.machine()


def cpu_identity():
    """Vendor, family, model and stepping: in a VM the model name can be as bare as "AMD EPYC",
    and these tell the micro-architecture (AMD family 25 model 17 = Zen 4)."""
    f = cpuinfo_fields()
    if "cpu family" not in f:
        return None
    return (f"{f.get('vendor_id', '?')} family {f['cpu family']} model {f.get('model', '?')} "
            f"stepping {f.get('stepping', '?')}")


def physical_cores():
    try:
        pairs = set()
        phys = core = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                phys = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                core = line.split(":", 1)[1].strip()
            elif not line.strip() and core is not None:
                pairs.add((phys, core))
                phys = core = None
        if core is not None:
            pairs.add((phys, core))
        return len(pairs) or None
    except OSError:
        return None


def os_name():
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"') + f" (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def ratio(ours, theirs, higher_is_better):
    if not ours or not theirs or ours["median"] <= 0 or theirs["median"] <= 0:
        return None
    return ours["median"] / theirs["median"] if higher_is_better else theirs["median"] / ours["median"]


def checks(w, ours_out, torch_out):
    """Did both sides compute the same thing?"""
    a, b = ours_out.get(str(w)), torch_out.get(str(w))
    if not a or not b:
        return None
    if w == 2:
        ra, rb = a["new_ids"], b["new_ids"]
        same = sum(x == y for x, y in zip(ra, rb))
        tokens = sum(len(x) for x in ra)
        same_tokens = sum(sum(p == q for p, q in zip(x, y)) for x, y in zip(ra, rb))
        return {"identical_replies": same, "replies": len(ra), "identical_token_positions": same_tokens, "tokens": tokens}
    if w == 6:
        pa, pb = a["perplexity"], b["perplexity"]
        return {
            "masks": len(pa),
            "max_perplexity_rel_diff": max((abs(x - y) / y for x, y in zip(pa, pb)), default=None),
            "max_abs_first_score_diff": max((abs(x - y) for x, y in zip(a["first_score"], b["first_score"])), default=None),
        }
    if w == 3:
        return {
            "max_abs_score_diff": max((abs(x - y) for x, y in zip(a["scores"], b["scores"])), default=None),
            "perplexity_ours": a["perplexity"],
            "perplexity_pytorch": b["perplexity"],
            "perplexity_rel_diff": abs(a["perplexity"] - b["perplexity"]) / b["perplexity"],
            "bias_abs_diff": {k: abs(a["bias"][k] - b["bias"].get(k, float("nan"))) for k in a["bias"]},
        }
    return None


def cpu_flags():
    return set(cpuinfo_fields().get("flags", "").split())


def peak_f32(flags, level=None):
    """The machine's f32 peak: cores x SIMD lanes x FMA units x 2 flops x clock, each factor with its source.

    `level` is the SIMD level both sides were capped at (`make bench BENCH_SIMD=avx2`): the peak is
    then that level's, not the machine's.
    """
    cores = os.cpu_count() or 1
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if level == "avx2":
        lanes = min(lanes, 8)
    fma_units = 2  # not readable from the OS: 2 FMA pipes per core on Xeon Scalable (Skylake-SP and later) and on AMD Zen 2-5
    fma_source = "assumed: 2 FMA pipes per core on Xeon Scalable and AMD Zen (not readable in a VM)"
    info = cpuinfo_fields()
    try:
        mhz = float(info["cpu MHz"])
    except (KeyError, ValueError):
        mhz = None
    if lanes == 16 and info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25":
        # Zen 4 (family 25 with AVX-512) runs a 512-bit FMA as two halves on its two 256-bit FMA
        # pipes: one 16-lane FMA per cycle, the same peak as AVX2's two 8-lane FMAs.
        fma_units = 1
        fma_source = ("AMD family 25 (Zen 4) with avx512f: its two FMA pipes are 256 bits wide, "
                      "so one 512-bit FMA per cycle")
    if mhz is None:
        return None
    gflops = cores * lanes * fma_units * 2 * mhz / 1000.0
    return {
        "gflops": gflops,
        "cores": cores,
        "cores_source": "os.cpu_count() (logical cores: the VM's vCPUs)",
        "f32_lanes": lanes,
        "lanes_source": "avx512f in /proc/cpuinfo flags -> 16, avx2 -> 8"
        + (" (both sides capped at AVX2 -> 8)" if level == "avx2" else ""),
        "fma_units_per_core": fma_units,
        "fma_source": fma_source,
        "clock_ghz": mhz / 1000.0,
        "clock_source": "cpu MHz in /proc/cpuinfo (nominal; turbo not counted)",
    }


def fmt(x):
    if x is None:
        return "–"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell(m):
    if not m:
        return "–"
    return f"{fmt(m['median'])} ({fmt(m['min'])}–{fmt(m['max'])})"


def ours_over_peer(ours, peer):
    """Our tokens/s over PyTorch's, per (precision, workload, batch, the peer's attention), where
    both device-check (bf16, f32) and tools/gpu_peer.py measured the shape."""
    ratios = []
    for precision in ("bf16", "f32"):
        for row in (ours.get(precision) or {}).get("throughput") or []:
            for p in peer.get("rows", []):
                if p["dtype"] == precision and p["batch"] == row["batch"] and p["workload"] == row["workload"]:
                    ratios.append({"precision": precision, "workload": row["workload"], "batch": row["batch"],
                                   "peer_attn": p["attn"], "ours_tokens_per_second": row["tokens_per_second"],
                                   "peer_tokens_per_second": p["tokens_per_second"],
                                   "ratio": row["tokens_per_second"] / p["tokens_per_second"]})
    return ratios


def gpu_summary(folder):
    """The bf16 golden check, prefill throughput and masks per hour of a scripts/gpu-bf16.sh run
    (measured on another machine, on another day: recorded with its own date and device)."""
    # Any of the script's steps may have run alone (a lease splits them over calls).
    if not any(folder.glob("device-check-*.json")) and not (folder / "peer.json").exists():
        return None
    out = {"folder": str(folder), "device": (folder / "gpu.txt").read_text().strip() if (folder / "gpu.txt").exists() else None}
    # bf16-attn-backend and bf16-tuned: burn's attention op, the second in a cuda-tuned build;
    # bf16-generic: burn's generic ops where attnprune's own GPU kernels run by default.
    for precision in ("bf16", "f32", "bf16-attn-backend", "bf16-tuned", "bf16-generic"):
        path = folder / f"device-check-{precision}.json"
        if not path.exists():
            continue
        d = json.loads(path.read_text())
        if d.get("profile"):
            out[f"profile_{precision}"] = d["profile"]
        out[precision] = {
            "attention": d.get("attention"),
            "gpu_kernels": d.get("gpu_kernels"),
            "reference": d.get("reference"),
            "top5_identical": f"{d.get('top5_identical')} of {len(d.get('logits', []))}",
            "logits_ok": d.get("logits_ok"),
            "perplexity_max_rel_diff": d.get("perplexity_max_rel_diff"),
            "perplexity_ok": d.get("perplexity_ok"),
            "replies": d.get("replies"),
            "throughput": d.get("throughput"),
        }
    for precision in ("bf16", "f32"):
        path = folder / f"device-check-{precision}-profile.json"
        if not path.exists():
            # The kernels step's device-check profiles the same forward (kernel profiler on).
            path = folder / f"device-check-{precision}-kernels.json"
        if path.exists():
            out[f"profile_{precision}"] = json.loads(path.read_text()).get("profile")
    # tools/cubecl_kernel_profile.py's summary of the kernels step: time by kernel family.
    for path in sorted(folder.glob("kernels-*.json")):
        k = json.loads(path.read_text())
        out[path.stem.replace("-", "_")] = {"launches": k["launches"], "families": k["families"],
                                            "top_kernels": k["kernels"][:10]}
    prefill = [(row["share_of_peak"], name, row["tokens_per_second"])
               for name in ("bf16", "bf16-attn-backend", "bf16-tuned", "bf16-generic")
               for row in (out.get(name) or {}).get("throughput") or []
               if row["workload"].startswith("prefill") and row["batch"] == 256]
    if prefill:
        share, name, rate = max(prefill)
        out["bf16_best_prefill_batch_256"] = {"variant": name, "share_of_peak": share, "tokens_per_second": rate}
    peer = folder / "peer.json"
    if peer.exists():
        out["peer"] = json.loads(peer.read_text())
        out["ours_over_peer"] = ours_over_peer(out, out["peer"])
    tables = folder / "precision-tables.json"
    if tables.exists():
        out["sample_780_prompts"] = json.loads(tables.read_text())
    passes = folder / "masks-per-pass-tables.json"
    if passes.exists():
        out["sample_780_prompts_masks_per_pass"] = json.loads(passes.read_text())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", default="results/bench/ours.json")
    ap.add_argument("--pytorch", default="results/bench/pytorch.json", help="omit or missing file: no ratios")
    ap.add_argument("--out", default="results/bench/bench.json")
    ap.add_argument("--command", default=None, help="the command that produced the figures (recorded)")
    ap.add_argument("--gpu-dir", default="results/gpu-bf16",
                    help="scripts/gpu-bf16.sh's output on a lent GPU, summarised as `gpu` when present")
    args = ap.parse_args()

    ours = json.loads(resolve(args.ours).read_text())
    tpath = resolve(args.pytorch) if args.pytorch else None
    theirs = json.loads(tpath.read_text()) if tpath and tpath.exists() else None
    if theirs is None:
        print(f"note: no PyTorch results at {args.pytorch}; ratios left empty", file=sys.stderr)
    spec = {}
    spec_path = resolve(ours.get("spec", "results/bench/spec.json"))
    if spec_path.exists():
        spec = json.loads(spec_path.read_text())

    torch_by_id = {w["id"]: w for w in (theirs or {}).get("workloads", [])}
    workloads = []
    for w in ours["workloads"]:
        t = torch_by_id.get(w["id"])
        metrics = {}
        names = [w["primary"]] + sorted(k for k in w["metrics"] if k != w["primary"])
        for name in names:
            m = w["metrics"][name]
            tm = t["metrics"].get(name) if t else None
            strip = lambda x: {k: x[k] for k in ("median", "min", "max", "runs")} if x else None
            metrics[name] = {
                "unit": m["unit"],
                "higher_is_better": m["higher_is_better"],
                "ours": strip(m),
                "pytorch": strip(tm),
                "ratio": ratio(m, tm, m["higher_is_better"]),
            }
        workloads.append(
            {
                "id": w["id"],
                "name": w["name"],
                "primary": w["primary"],
                "repeats": w["repeats"],
                "description": w["description"],
                "description_pytorch": t["description"] if t else None,
                "info": w["info"],
                "metrics": metrics,
                "checks": checks(w["id"], ours.get("outputs", {}), (theirs or {}).get("outputs", {})),
            }
        )

    flags = cpu_flags()
    level = ours.get("simd")
    capped = level == "avx2" and "avx512f" in flags
    peak = peak_f32(flags, level)
    prefill = next((w for w in workloads if w["id"] == 1), None)
    achieved = None
    if prefill and prefill["info"].get("flops"):
        secs = prefill["metrics"]["seconds"]
        flops = prefill["info"]["flops"]
        achieved = {
            "flops_per_prefill": flops,
            "gflops_ours": flops / secs["ours"]["median"] / 1e9,
            "gflops_pytorch": flops / secs["pytorch"]["median"] / 1e9 if secs.get("pytorch") else None,
        }
        if peak:
            achieved["share_of_peak_ours"] = achieved["gflops_ours"] / peak["gflops"]
            if achieved["gflops_pytorch"]:
                achieved["share_of_peak_pytorch"] = achieved["gflops_pytorch"] / peak["gflops"]
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    doc = {
        "command": args.command,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ratio_definition": "speed of attnprune / speed of PyTorch from the medians (throughput: ours / theirs; seconds: theirs / ours); > 1 = attnprune faster",
        "machine": {
            "cpu": cpu_model(),
            "cpu_identity": cpu_identity(),
            "logical_cores": os.cpu_count(),
            "physical_cores": physical_cores(),
            "simd": sorted(f for f in flags if f.startswith(("avx", "fma", "amx"))),
            "simd_level_ours": level,
            "simd_level_pytorch": (theirs or {}).get("cpu_capability"),
            "simd_capped_to_avx2": capped,
            "f32_peak": peak,
            "os": os_name(),
            "load_average_at_merge": load,
            "rustc": command_output(["rustc", "--version"]),
            "python": (theirs or {}).get("python"),
            "torch": (theirs or {}).get("torch"),
            "transformers": (theirs or {}).get("transformers"),
        },
        "settings": {
            "threads": ours.get("threads"),
            "threads_pytorch": (theirs or {}).get("threads"),
            "attn_implementation_pytorch": (theirs or {}).get("attn_implementation"),
            "seed": ours.get("seed"),
            "repeats": {str(w["id"]): w["repeats"] for w in ours["workloads"]},
            "warmup_runs": 1,
            "model": spec.get("model"),
            "pruned_heads": spec.get("mask", {}).get("pruned"),
            "sizes": spec.get("sizes"),
        },
        "seconds": {"ours": ours.get("total_seconds"), "pytorch": (theirs or {}).get("total_seconds")},
        "prefill_gflops": achieved,
        "workloads": workloads,
        "gpu": gpu_summary(resolve(args.gpu_dir)) if args.gpu_dir else None,
    }
    out = resolve(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out)

    m = doc["machine"]
    lines = [
        f"Machine: {m['cpu']}" + (f" ({m['cpu_identity']})" if m.get("cpu_identity") else "")
        + f", {m['logical_cores']} logical cores; {m['os']}; {m['rustc']}; "
        f"torch {m['torch']}, transformers {m['transformers']}. Threads: {doc['settings']['threads']}. "
        f"Load average at the end: {', '.join(f'{x:.2f}' for x in load) if load else '?'}.",
        f"SIMD: {' '.join(doc['machine']['simd']) or '?'}."
        + (f" **Both sides capped at AVX2** (ours: {level}; PyTorch: {m['simd_level_pytorch']}, MKL and oneDNN "
           "capped by MKL_ENABLE_INSTRUCTIONS / ONEDNN_MAX_CPU_ISA): the AVX2 code paths on an AVX-512 machine."
           if capped else f" Kernels: ours {level or '?'}, PyTorch {m['simd_level_pytorch'] or '?'}."),
        "",
        "| # | workload | metric | attnprune median (min–max) | PyTorch median (min–max) | ratio | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        for name, mm in w["metrics"].items():
            r = mm["ratio"]
            lines.append(
                f"| {w['id']} | {w['name']} | {name} [{mm['unit']}] | {cell(mm['ours'])} | {cell(mm['pytorch'])} | "
                f"{'–' if r is None else f'{r:.2f}x'} | {w['repeats']} |"
            )
    notes = []
    for w in workloads:
        c = w["checks"]
        if c and w["id"] == 2:
            notes.append(f"- workload 2: {c['identical_replies']}/{c['replies']} greedy replies identical to PyTorch's "
                         f"({c['identical_token_positions']}/{c['tokens']} token positions)")
        if c and w["id"] == 3:
            notes.append(f"- workload 3: max |score difference| {c['max_abs_score_diff']:.2e}, perplexity "
                         f"{c['perplexity_ours']:.4f} vs {c['perplexity_pytorch']:.4f} (relative {c['perplexity_rel_diff']:.1e})")
    for w in workloads:
        c = w["checks"]
        if c and w["id"] == 6:
            notes.append(f"- workload 6: {c['masks']} masks, max perplexity relative difference {c['max_perplexity_rel_diff']:.1e}, "
                         f"max |first score difference| {c['max_abs_first_score_diff']:.2e}")
    if notes:
        lines += ["", "Same computation on both sides:"] + notes
    if achieved:
        line = f"Prefill: {achieved['gflops_ours']:.1f} GFLOP/s"
        if achieved.get("gflops_pytorch"):
            line += f" (PyTorch {achieved['gflops_pytorch']:.1f})"
        if peak:
            line += (f" of an f32 peak of {peak['gflops']:.0f} GFLOP/s = {peak['cores']} cores x {peak['f32_lanes']} lanes x "
                     f"{peak['fma_units_per_core']} FMA units x 2 x {peak['clock_ghz']:.2f} GHz "
                     f"({100 * achieved['share_of_peak_ours']:.0f}%"
                     + (f"; PyTorch {100 * achieved['share_of_peak_pytorch']:.0f}%" if achieved.get('share_of_peak_pytorch') else "")
                     + ")")
        line += "."
        if peak and max(achieved.get("share_of_peak_ours", 0), achieved.get("share_of_peak_pytorch") or 0) > 1:
            line += (" Above 100%: the cores ran faster than the nominal clock that /proc/cpuinfo gives "
                     "(boost): the true peak is higher than this nominal one.")
        lines += ["", line]
    lines += ["", "ratio = attnprune's speed / PyTorch's (medians); > 1 means attnprune is faster.", f"Wrote {args.out}."]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
