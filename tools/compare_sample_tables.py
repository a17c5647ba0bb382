#!/usr/bin/env python3
"""Checks that the shard tables of a sharded `sample` run equal its unsharded table, row for row.

    python3 tools/compare_sample_tables.py UNSHARDED.parquet SHARD.parquet [SHARD.parquet ...]

The shards' rows are merged in `mask_id` order. Exits 0 when no `mask_id` is in two shards (no
row duplicated), the ids are exactly the unsharded table's (no row lost) and every row holds
the same values in every column but `eval_seconds` (the wall time); exits 1 naming the first
difference. Needs pyarrow (tools/requirements-pyarrow.txt).
"""
import sys

import pyarrow.parquet as pq

IGNORED = {"eval_seconds"}


def rows(path):
    table = pq.read_table(path)
    columns = [c for c in table.column_names if c not in IGNORED]
    data = table.select(columns).to_pydict()
    return columns, [dict(zip(columns, values)) for values in zip(*(data[c] for c in columns))]


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    reference_path, shard_paths = sys.argv[1], sys.argv[2:]
    columns, reference = rows(reference_path)
    merged, owner = [], {}
    for path in shard_paths:
        shard_columns, shard_rows = rows(path)
        if shard_columns != columns:
            print(f"error: {path}: columns {shard_columns} differ from {reference_path}'s {columns}", file=sys.stderr)
            return 1
        for row in shard_rows:
            mask_id = row["mask_id"]
            if mask_id in owner:
                print(f"error: mask_id {mask_id} is in {owner[mask_id]} and in {path} (a duplicated row)", file=sys.stderr)
                return 1
            owner[mask_id] = path
            merged.append(row)
    merged.sort(key=lambda r: r["mask_id"])
    want = sorted(r["mask_id"] for r in reference)
    got = [r["mask_id"] for r in merged]
    if got != want:
        lost = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        print(f"error: the shards' mask ids differ: lost {lost}, not in the unsharded table {extra}", file=sys.stderr)
        return 1
    for a, b in zip(sorted(reference, key=lambda r: r["mask_id"]), merged):
        for column in columns:
            if a[column] != b[column]:
                print(f"error: mask_id {a['mask_id']}: column `{column}` is {b[column]!r} in "
                      f"{owner[a['mask_id']]} but {a[column]!r} in {reference_path}", file=sys.stderr)
                return 1
    print(f"ok: {len(merged)} rows from {len(shard_paths)} shards equal {reference_path} row for row "
          f"({len(columns)} columns compared, {', '.join(sorted(IGNORED))} ignored); none lost, none duplicated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
