"""What a dbt run costs to start: plain child processes (NEUROSTOCK_DBT_FORKSERVER=0)
against forks of the fork server (neurostock.core.forkserver), side by side in one run
on one small warehouse. Run from the repository root:

    .venv/bin/python benchmarks/bench_dbt_start.py [--runs 6] [--rows 200]

Each round runs `dbt run -s stg_core__img_info` (one view: the run is almost all start-up)
once each way, alternating, in child processes of their own (a fresh command each, as a
user's commands are: the server's own start is paid in the first run of each command,
so `--per-command` runs several dbt runs per command). Prints seconds per dbt run:
median and each value.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "stg_core__img_info"


def _command(warehouse: Path, runs: int) -> list[str]:
    code = ("import sys; from neurostock.build.dbt_runner import run_dbt\n"
            f"for _ in range({runs}): run_dbt(['run', '-s', '{MODEL}'], sys.argv[1])")
    return [sys.executable, "-c", code, str(warehouse)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="rounds (default 6)")
    parser.add_argument("--rows", type=int, default=200, help="sample rows (default 200)")
    parser.add_argument("--per-command", type=int, default=3,
                        help="dbt runs per command (default 3, as a build has)")
    args = parser.parse_args()
    env = {**os.environ, "NEUROSTOCK_CONFIG": "none", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
           "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warehouse = root / "warehouse.duckdb"
        cli = [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse)]
        subprocess.run([*cli, "sample", "--out", str(root / "sample"), "--rows",
                        str(args.rows)], check=True, env=env, capture_output=True)
        subprocess.run([*cli, "ingest", str(root / "sample" / "core.download.db")],
                       check=True, env=env, capture_output=True)
        subprocess.run([*cli, "build", "--skip-images"], check=True, env=env,
                       capture_output=True)
        seconds: dict[str, list[float]] = {"plain child": [], "fork server": []}
        for round_ in range(args.runs):
            for label, switch in (("plain child", "0"), ("fork server", "1")):
                started = time.perf_counter()
                subprocess.run(_command(warehouse, args.per_command), check=True,
                               env={**env, "NEUROSTOCK_DBT_FORKSERVER": switch},
                               capture_output=True)
                seconds[label].append((time.perf_counter() - started) / args.per_command)
            print(f"round {round_ + 1}/{args.runs} done", file=sys.stderr)
    for label, values in seconds.items():
        print(f"{label:12s} median {statistics.median(values):.2f} s per dbt run "
              f"({args.per_command} per command; each: "
              f"{', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
