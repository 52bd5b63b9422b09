"""Benchmark: every computed scorer on the 1,200 real AGIQA-3K images, through the UDF the
warehouse runs (score.udfs.ScoreFunctions), then again with nothing new.

    .venv/bin/python benchmarks/bench_scores.py [--limit N] [--workdir bench_out]

Target (external-scores issue): the whole suite on the 1,200 images under 5
minutes on 2 cores; a second run computes nothing. Reports images/s per scorer
(model loading excluded and reported apart) and writes WORKDIR/bench_scores.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AGIQA = ROOT.parent / "shared" / "data" / "agiqa3k"
SCORERS = ("technical", "phash", "nsfw", "text_in_image")


def _images(limit: int | None) -> list[tuple[int, str, str]]:
    import csv

    with open(AGIQA / "data.csv", newline="") as fh:
        names = [row["name"] for row in csv.DictReader(fh)]
    found = []
    for i, name in enumerate(names[:limit] if limit else names, start=1):
        path = next((p for p in (AGIQA / name, AGIQA / "images" / name) if p.is_file()), None)
        if path is not None:
            found.append((i, str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench_out")
    args = parser.parse_args()
    if not (AGIQA / "data.csv").is_file():
        sys.exit(f"bench_scores: {AGIQA} is absent (it is in ../shared/data beside the repo)")

    import duckdb

    from neurostock.compute.cache import ResumeCache
    from neurostock.score.udfs import ScoreFunctions

    images = _images(args.limit)
    print(f"{len(images)} images from {AGIQA}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench_scores_"))
    functions = ScoreFunctions(SCORERS, ResumeCache(scratch / "cache.sqlite"))
    con = duckdb.connect()
    con.execute("set threads = 1")  # as the generated models do
    functions.register(con)
    con.execute("create table images (image_id bigint, path varchar, sha varchar)")
    con.executemany("insert into images values (?, ?, ?)", images)

    rows, total = [], 0.0
    for scorer_id in SCORERS:
        started = time.perf_counter()
        functions.scorer(scorer_id)
        load = time.perf_counter() - started
        for run in ("first", "nothing new"):
            started = time.perf_counter()
            con.execute(f"select ns_score_image('{scorer_id}', path, sha, count(*) over ()) "
                        "from images").fetchall()
            seconds = time.perf_counter() - started
            stats = functions.take_stats(scorer_id)
            rows.append({"scorer": scorer_id, "run": run, "images": len(images),
                         "computed": stats["n_computed"], "failed": stats["n_failed"],
                         "seconds": seconds, "load_seconds": load if run == "first" else None,
                         "images_per_s": len(images) / seconds})
            if run == "first":
                total += seconds + load
            print(f"  {scorer_id:<14} {run:<12} {seconds:7.1f} s  "
                  f"{len(images) / seconds:7.1f} images/s  computed {stats['n_computed']}",
                  flush=True)
    print(f"\nwhole suite, first run (loading included): {total:.1f} s for {len(images)} images")
    checks = {
        "suite under 5 minutes": total < 300,
        "second run computes nothing": all(r["computed"] == 0 for r in rows
                                           if r["run"] == "nothing new"),
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "bench_scores.json").write_text(
        json.dumps({"images": len(images), "rows": rows, "suite_seconds": total,
                    "checks": checks}, indent=2) + "\n")


if __name__ == "__main__":
    main()
