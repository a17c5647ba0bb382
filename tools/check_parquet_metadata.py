#!/usr/bin/env python3
"""Checks that pyarrow (and pandas on top of it) see attnprune's provenance on a Parquet table.

    python3 tools/check_parquet_metadata.py TABLE.parquet [KIND]

attnprune writes its provenance twice: in the Parquet file's key-value metadata and on the
embedded Arrow schema. Readers such as `pyarrow.parquet.read_table(f).schema.metadata` (and
pandas, which reads through pyarrow) only show the second. Exits 0 and prints the kind and
schema version when both places hold the same provenance; exits 1 naming what is missing.
Needs pyarrow (pinned in tools/requirements-pyarrow.txt).
"""
import json
import sys

import pyarrow.parquet as pq

KEY = b"attnprune.provenance"
VERSION_KEY = b"attnprune.schema_version"


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path = sys.argv[1]
    want_kind = sys.argv[2] if len(sys.argv) == 3 else None
    schema_meta = pq.read_table(path).schema.metadata or {}
    file_meta = pq.ParquetFile(path).metadata.metadata or {}
    for where, meta in (("the Arrow schema", schema_meta), ("the file's key-value metadata", file_meta)):
        if KEY not in meta or VERSION_KEY not in meta:
            print(f"error: {path}: no {KEY.decode()} / {VERSION_KEY.decode()} in {where}", file=sys.stderr)
            return 1
    provenance = json.loads(schema_meta[KEY])
    if provenance != json.loads(file_meta[KEY]):
        print(f"error: {path}: the Arrow schema's provenance differs from the file's", file=sys.stderr)
        return 1
    if str(provenance["schema_version"]) != schema_meta[VERSION_KEY].decode():
        print(f"error: {path}: schema_version disagrees with {VERSION_KEY.decode()}", file=sys.stderr)
        return 1
    if want_kind is not None and provenance["kind"] != want_kind:
        print(f"error: {path}: kind {provenance['kind']!r}, expected {want_kind!r}", file=sys.stderr)
        return 1
    frame = pq.read_table(path).to_pandas()
    print(f"{path}: kind {provenance['kind']} version {provenance['schema_version']}, "
          f"{len(frame)} rows, {len(frame.columns)} columns, provenance visible to pyarrow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
