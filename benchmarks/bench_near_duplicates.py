"""Near-duplicate pairs at pool size: the former model (DuckDB self-join on
bit_count(xor(a, b)), every hash against every other) against multi-index hashing
(neurostock.analysis.hamming, the model near_duplicate_pairs runs), side by side in one
run, on synthetic pHashes with planted near copies and flipped copies (mirror hashes),
as the phash scorer stores them. Run from the repository root:

    .venv/bin/python benchmarks/bench_near_duplicates.py [--sizes 100000 400000 2100000]
        [--join-sizes 25000 50000] [--distance 6]

Per size: seconds and peak memory (each measurement in a child process of its own) of
the whole search, and of an incremental one (1% new images against all); the growth
exponent (log-log slope) between sizes. The self-join runs at the smaller sizes only
(it grows with the square of the pool: 2.1 M would take about a day and a half), with
the same hashes, and its pairs are checked equal to the MIH's (direct distances only:
the join knows no mirrors).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
n, distance, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(7)
hashes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
mirrors = rng.integers(0, 2**64 - 1, n, dtype=np.uint64)
for k, (i, j) in enumerate(rng.choice(n, (n // 200) * 2, replace=False).reshape(-1, 2)):
    mask = np.uint64(sum(1 << int(b) for b in rng.choice(64, k % 8, replace=False)))
    if k % 4 == 0:
        mirrors[j] = hashes[i] ^ mask
    else:
        hashes[j] = hashes[i] ^ mask
ids = np.arange(n, dtype=np.int64)
started = time.perf_counter()
if kind == "join":
    import duckdb
    con = duckdb.connect()
    con.execute("create table hashes as select * from (select unnest(?::bigint[]) as image_id, "
                "unnest(?::ubigint[]) as phash)", [ids.tolist(), hashes.tolist()])
    started = time.perf_counter()
    pairs = con.execute(
        "select a.image_id, b.image_id from hashes a join hashes b on a.image_id < b.image_id "
        f"and bit_count(xor(a.phash, b.phash)) <= {distance}").fetchall()
    found = sorted(map(tuple, pairs))
else:
    from neurostock.analysis.hamming import near_pairs
    changed = ids[-max(1, n // 100):] if kind == "incremental" else None
    low, high, d, mirrored = near_pairs(ids, hashes, mirrors, distance, changed=changed)
    found = None
    if kind == "mih_direct":  # the pairs within the distance without a mirror
        direct = np.bitwise_count(hashes[low] ^ hashes[high]) <= distance
        found = sorted(zip(low[direct].tolist(), high[direct].tolist()))
    pairs = low
seconds = time.perf_counter() - started
print(json.dumps({"n": n, "kind": kind, "seconds": seconds, "pairs": len(pairs),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                  "direct": found if n <= 60000 and found is not None else None}))
"""


def measure(n: int, distance: int, kind: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(distance), kind],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def slope(rows: list[dict]) -> list[str]:
    return [f"{math.log(b['seconds'] / a['seconds']) / math.log(b['n'] / a['n']):.2f}"
            for a, b in zip(rows, rows[1:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000, 2_100_000])
    parser.add_argument("--join-sizes", type=int, nargs="+", default=[25_000, 50_000])
    parser.add_argument("--distance", type=int, default=6)
    args = parser.parse_args()
    print(f"distance {args.distance}; each figure one child process")
    joins = []
    for n in args.join_sizes:
        join = measure(n, args.distance, "join")
        mih = measure(n, args.distance, "mih_direct")
        same = join["direct"] == mih["direct"] if join["direct"] is not None else "n/a"
        joins.append(join)
        print(f"n={n:>9,}  self-join {join['seconds']:8.1f} s {join['peak_mb']:6,} MB  |  "
              f"MIH {mih['seconds']:6.2f} s {mih['peak_mb']:6,} MB  |  direct pairs "
              f"{join['pairs']:,}, equal: {same}")
    if len(joins) > 1:
        print(f"self-join growth exponent: {', '.join(slope(joins))}")
    whole, incremental = [], []
    for n in args.sizes:
        w = measure(n, args.distance, "mih")
        i = measure(n, args.distance, "incremental")
        whole.append(w)
        incremental.append(i)
        print(f"n={n:>9,}  MIH whole {w['seconds']:7.1f} s {w['peak_mb']:6,} MB, "
              f"{w['pairs']:,} pairs  |  1% new {i['seconds']:6.2f} s {i['peak_mb']:6,} MB")
    if len(whole) > 1:
        print(f"MIH growth exponent, whole: {', '.join(slope(whole))}; "
              f"1% new: {', '.join(slope(incremental))}")


if __name__ == "__main__":
    main()
