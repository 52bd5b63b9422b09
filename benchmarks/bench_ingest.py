"""Benchmark: `neurostock ingest` and `neurostock build` against the baselines, side by side.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 2111057] [--workdir bench_out] [--repeat 1]

Makes (or reuses) a sample source of --rows img_info rows, then runs, each in a
fresh process so peak memory (ru_maxrss) is its own:
  pandas      the team's way: pandas.read_sql of every table (as str), then into DuckDB
  bare        DuckDB's sqlite scanner, CREATE TABLE AS per table (all columns
              as VARCHAR: a declared-type scan fails on the sample's odd values)
  ingest      neurostock ingest into a new warehouse
  unchanged   neurostock ingest again, same file
  build       neurostock build (dbt build: models + tests) on that warehouse
Targets (foundation issue): ingest within 1.3x of bare in time and peak memory;
build under 60 s and 2 GB. Results go to stdout and WORKDIR/bench_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _child(mode: str, source: Path, warehouse: Path) -> dict:
    """Runs inside the measured process; returns seconds and this process's peak RSS."""
    import duckdb

    started = time.perf_counter()
    if mode == "pandas":
        import sqlite3

        import pandas as pd

        src = sqlite3.connect(source)
        tables = [r[0] for r in src.execute("select name from sqlite_master where type='table'")]
        con = duckdb.connect(str(warehouse))
        for table in tables:
            # dtype=str: on mixed columns ('abc' among integers) DuckDB's
            # frame scan fails otherwise; it also matches ingest's text copy.
            frame = pd.read_sql(f'select * from "{table}"', src, dtype=str)
            con.register("frame", frame)
            con.execute(f'create table "{table}" as select * from frame')
            con.unregister("frame")
            del frame
        con.close()
    elif mode == "bare":
        from neurostock.core.warehouse import ensure_extensions

        con = duckdb.connect(str(warehouse))
        ensure_extensions(con, ["sqlite_scanner"])
        con.execute("set sqlite_all_varchar = true")
        con.execute(f"attach '{source}' as src (type sqlite, read_only)")
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'src'").fetchall()]
        for table in tables:
            con.execute(f'create table "{table}" as select * from src."{table}"')
        con.close()
    elif mode in {"ingest", "unchanged"}:
        from neurostock.ingest.sqlite_copy import ingest

        result = ingest(source, warehouse)
        expected = "loaded" if mode == "ingest" else "unchanged"
        assert result.status == expected, result.status
    elif mode == "build":
        import os

        from neurostock.build.dbt_runner import run_dbt

        # The foundation's models only: no embedders or scorers from a neurostock.yml.
        os.environ["NEUROSTOCK_CONFIG"] = "none"

        run_dbt(["--quiet", "build"], warehouse)
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "build":  # the work happens in the dbt child process
        peak_kb = max(peak_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"mode": mode, "seconds": seconds, "peak_mb": peak_kb / 1024}


def _measure(mode: str, source: Path, warehouse: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--source", str(source),
         "--warehouse", str(warehouse)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh(path: Path) -> Path:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_111_057)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench_out")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--warehouse", type=Path)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args.source, args.warehouse)))
        return

    from neurostock.sampledata.source import write_sample

    sample_dir = args.workdir / f"sample_{args.rows}"
    source = sample_dir / "core.download.db"
    if not source.exists():
        print(f"making a sample of {args.rows:,} rows in {sample_dir} …", flush=True)
        started = time.perf_counter()
        write_sample(sample_dir, rows=args.rows)
        print(f"  sample made in {time.perf_counter() - started:.1f} s", flush=True)
    print(f"source: {source} ({source.stat().st_size / 1e6:.0f} MB)", flush=True)

    modes = ("pandas", "bare", "ingest", "unchanged", "build")
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for i in range(args.repeat):
        for mode in ("pandas", "bare", "ingest"):
            wh = _fresh(args.workdir / f"{mode}.duckdb")
            runs[mode].append(_measure(mode, source, wh))
            print(f"  run {i + 1} {mode:<10} {runs[mode][-1]['seconds']:7.2f} s "
                  f"{runs[mode][-1]['peak_mb']:8.0f} MB", flush=True)
        wh = args.workdir / "ingest.duckdb"
        for mode in ("unchanged", "build"):
            runs[mode].append(_measure(mode, source, wh))
            print(f"  run {i + 1} {mode:<10} {runs[mode][-1]['seconds']:7.2f} s "
                  f"{runs[mode][-1]['peak_mb']:8.0f} MB", flush=True)

    summary = {
        m: {"seconds": statistics.median(r["seconds"] for r in rs),
            "peak_mb": statistics.median(r["peak_mb"] for r in rs)}
        for m, rs in runs.items()
    }
    bare, ing, build = summary["bare"], summary["ingest"], summary["build"]
    checks = {
        "ingest time <= 1.3x bare": ing["seconds"] <= 1.3 * bare["seconds"],
        "ingest peak memory <= 1.3x bare": ing["peak_mb"] <= 1.3 * bare["peak_mb"],
        "build under 60 s": build["seconds"] < 60,
        "build under 2 GB": build["peak_mb"] < 2048,
    }
    print(f"\n{'step':<10} {'seconds':>8} {'peak MB':>8}   (rows={args.rows:,}, median of "
          f"{args.repeat})")
    for m, s in summary.items():
        print(f"{m:<10} {s['seconds']:8.2f} {s['peak_mb']:8.0f}")
    print(f"ingest/bare: time {ing['seconds'] / bare['seconds']:.2f}x, "
          f"memory {ing['peak_mb'] / bare['peak_mb']:.2f}x; "
          f"pandas/ingest: time {summary['pandas']['seconds'] / ing['seconds']:.2f}x")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    report = {"rows": args.rows, "repeat": args.repeat, "summary": summary, "runs": runs,
              "checks": checks}
    (args.workdir / "bench_ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    for mode in ("pandas", "bare"):
        _fresh(args.workdir / f"{mode}.duckdb")


if __name__ == "__main__":
    main()
