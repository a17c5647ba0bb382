#!/usr/bin/env python3
"""Sums a CubeCL kernel profile by kernel: where a GPU forward's time goes, kernel by kernel.

CubeCL (the kernel layer under burn-cuda and burn-wgpu) times every kernel it launches when its
profiling log is on, and writes one line per launch, `| <duration> | <kernel name> | <runtime>`:

    CUBECL_DEBUG_LOG=cubecl.log CUBECL_DEBUG_OPTION=profile device-check ... --profile

(`CUBECL_DEBUG_LOG` also logs every kernel's compilation; this script reads only the timed
lines.) It groups the launches by kernel name, and the names into families (matrix products,
reductions, element-wise ops, casts, indexing and copies, attention, burn's fused kernels, and
attnprune's own kernels), and prints and writes each with its total time, share, launch count
and mean. `device-check --profile` times the forward's steps; this names the kernels inside
them, which is what a fused kernel of our own would replace. The timing itself serialises the launches, so shares, not totals, are
the figure. Python standard library only.

Usage: tools/cubecl_kernel_profile.py cubecl.log [--top 25] [--out kernels.json]
"""

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\|\s*([0-9.]+)(ns|µs|us|ms|s)\s*\|\s*(.+?)\s*$")
UNIT_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
RUNTIMES = ("WgpuRuntime", "CudaRuntime", "HipRuntime", "CpuRuntime")

# The first pattern that matches the kernel's name names its family.
FAMILIES = [
    # attnprune's own kernels (crates/attnprune-lm/src/cube.rs), before the names they contain.
    # CubeCL names a kernel after its function in CamelCase: RmsNormKernel, MaskedSoftmaxKernel.
    ("attnprune", re.compile(r"rms_?norm_?kernel|rotary_?kernel|swiglu_?kernel|masked_?softmax_?kernel", re.I)),
    ("fused", re.compile(r"fuse|Fuse|Elemwise(Fuse|Optim)|FusedMatmul|TraceRunner", re.I)),
    ("attention", re.compile(r"attention|flash", re.I)),
    ("matrix product", re.compile(r"matmul|gemm|Matmul|tile|Tiling|Batched(Matmul)?|Naive.*Mat|Stage", re.I)),
    ("reduction", re.compile(r"reduce|Reduce|argmax|sum|mean|max_dim|softmax", re.I)),
    ("cast", re.compile(r"cast|Cast|convert", re.I)),
    ("indexing and copies", re.compile(r"select|slice|gather|scatter|copy|into_contiguous|Contiguous|permute|expand|repeat|cat|index|mask_where|mask_fill|Mask", re.I)),
    ("element-wise", re.compile(r"binop|Binop|unary|Unary|Scalar|Cmp|Comparison|clamp|exp|log|sqrt|powf|recip|silu|sigmoid|erf|tanh|abs|neg", re.I)),
]


def family_of(name):
    for family, pattern in FAMILIES:
        if pattern.search(name):
            return family
    return "other"


def kernel_name(rest):
    """`KernelScalarBinop | AddOp | WgpuRuntime` -> `KernelScalarBinop | AddOp`."""
    parts = [p.strip() for p in rest.split("|") if p.strip()]
    parts = [p for p in parts if p not in RUNTIMES]
    return " | ".join(parts) if parts else rest


def short_name(name):
    """A product kernel's name lists its whole configuration; keep its entry point and families."""
    parts = name.split(" | ")
    if len(parts) <= 4:
        return name
    kept = [parts[0]] + [p for p in dict.fromkeys(parts[1:]) if p.endswith("Family")]
    return " | ".join(kept) + " ..."


def summarise(lines):
    kernels = defaultdict(lambda: [0.0, 0])
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        seconds = float(m.group(1)) * UNIT_SECONDS[m.group(2)]
        k = kernels[kernel_name(m.group(3))]
        k[0] += seconds
        k[1] += 1
    total = sum(s for s, _ in kernels.values())
    rows = [
        {
            "kernel": name,
            "family": family_of(name),
            "seconds": s,
            "share": s / total if total else 0.0,
            "launches": n,
            "mean_us": s / n * 1e6,
        }
        for name, (s, n) in kernels.items()
    ]
    rows.sort(key=lambda r: -r["seconds"])
    families = defaultdict(lambda: [0.0, 0])
    for r in rows:
        f = families[r["family"]]
        f[0] += r["seconds"]
        f[1] += r["launches"]
    family_rows = sorted(
        (
            {"family": f, "seconds": s, "share": s / total if total else 0.0, "launches": n}
            for f, (s, n) in families.items()
        ),
        key=lambda r: -r["seconds"],
    )
    return {
        "total_seconds": total,
        "launches": sum(r["launches"] for r in rows),
        "families": family_rows,
        "kernels": rows,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", type=Path, help="the file CUBECL_DEBUG_LOG named")
    ap.add_argument("--top", type=int, default=25, help="kernels to print (all are written)")
    ap.add_argument("--out", type=Path, help="write the summary as JSON here")
    args = ap.parse_args()
    if not args.log.is_file():
        sys.exit(f"error: {args.log}: no such file (run with CUBECL_DEBUG_LOG={args.log} CUBECL_DEBUG_OPTION=profile)")
    with args.log.open(encoding="utf-8", errors="replace") as f:
        summary = summarise(f)
    if not summary["launches"]:
        sys.exit(f"error: {args.log}: no timed kernel lines (was CUBECL_DEBUG_OPTION=profile set?)")
    summary["log"] = str(args.log)
    print(f"{summary['launches']} launches, {summary['total_seconds']:.3f} s of kernel time")
    print(f"{'family':<22} {'share':>7} {'seconds':>9} {'launches':>9}")
    for r in summary["families"]:
        print(f"{r['family']:<22} {r['share']:>6.1%} {r['seconds']:>9.4f} {r['launches']:>9}")
    print()
    print(f"{'share':>7} {'seconds':>9} {'launches':>9} {'mean µs':>9}  kernel")
    for r in summary["kernels"][: args.top]:
        print(f"{r['share']:>6.1%} {r['seconds']:>9.4f} {r['launches']:>9} {r['mean_us']:>9.1f}  {short_name(r['kernel'])} [{r['family']}]")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
