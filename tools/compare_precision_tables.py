#!/usr/bin/env python3
"""Compares two `sample` tables of the same masks measured in two precisions (bf16 against
the f32 reference), as scripts/gpu-bf16.sh writes them, and reports masks per hour of each.

    python3 tools/compare_precision_tables.py REFERENCE.parquet OTHER.parquet [--out FILE.json]

For the mask ids both tables hold: the largest |difference| of every bias and bucket-mean
column (probability scale and log-odds scale apart) and the largest relative perplexity
difference. The speed issue's bar for bf16 is bias scores (one per axis, probability scale)
within 1e-2 and perplexity within 0.5%; exits 1 when one is over it. Seconds per mask are the `eval_seconds` of the
masks after the unpruned one (one worker on a GPU: masks per hour = 3600 / mean). Needs
pyarrow (tools/requirements-pyarrow.txt).
"""
import argparse
import json
import statistics
import sys

import pyarrow.parquet as pq

BIAS_TOL = 1e-2
PPL_TOL = 5e-3


def table(path):
    t = pq.read_table(path)
    d = t.to_pydict()
    return {mid: {k: d[k][i] for k in t.schema.names} for i, mid in enumerate(d["mask_id"])}, t.schema.names


def speed(rows):
    secs = [r["eval_seconds"] for mid, r in sorted(rows.items()) if mid != 0]
    if not secs:
        return None
    mean = statistics.fmean(secs)
    return {"masks": len(secs), "seconds_mean": mean, "seconds_median": statistics.median(secs),
            "masks_per_hour": 3600.0 / mean}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reference")
    ap.add_argument("other")
    ap.add_argument("--out")
    args = ap.parse_args()
    ref, names = table(args.reference)
    oth, _ = table(args.other)
    common = sorted(set(ref) & set(oth))
    if not common:
        print("no mask id in both tables", file=sys.stderr)
        return 1
    for mid in common:
        if ref[mid]["mask"] != oth[mid]["mask"]:
            print(f"mask {mid} differs between the tables", file=sys.stderr)
            return 1
    groups = {"bias": [], "bucket_mean": [], "logit_bias": [], "logit_bucket_mean": []}
    for n in names:
        head = n.split("/")[0]
        if head in groups:
            groups[head].append(n)
    out = {"reference": args.reference, "other": args.other, "masks_compared": len(common),
           "max_abs_diff": {}, "bias_tol": BIAS_TOL, "perplexity_tol": PPL_TOL}
    for g, cols in groups.items():
        out["max_abs_diff"][g] = max((abs(ref[m][c] - oth[m][c]) for m in common for c in cols), default=None)
    out["perplexity_max_rel_diff"] = max(abs(ref[m]["perplexity"] - oth[m]["perplexity"]) / ref[m]["perplexity"]
                                         for m in common)
    out["rows"] = [{"mask_id": m, "num_pruned": ref[m]["num_pruned"],
                    "bias": [ref[m][c] for c in groups["bias"]], "bias_other": [oth[m][c] for c in groups["bias"]],
                    "perplexity": ref[m]["perplexity"], "perplexity_other": oth[m]["perplexity"]} for m in common]
    out["speed_reference"] = speed(ref)
    out["speed_other"] = speed(oth)
    # The bar is on the bias scores (one per axis) and perplexity; the bucket means behind
    # them are reported beside it.
    ok = out["max_abs_diff"]["bias"] <= BIAS_TOL and out["perplexity_max_rel_diff"] <= PPL_TOL
    out["within_tolerance"] = ok
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
