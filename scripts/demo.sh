#!/usr/bin/env bash
# The main job on the shipped sample: set-up, sample source, ingest, dbt build,
# export. Re-running is cheap: an unchanged source is not copied again.
# Outputs: sample/ (source + images), warehouse.duckdb, export/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ns=.venv/bin/neurostock
rows=${NEUROSTOCK_SAMPLE_ROWS:-2000}

if [ ! -f sample/core.download.db ]; then
  $ns sample --rows "$rows" --out sample
fi
$ns --warehouse warehouse.duckdb ingest sample/core.download.db
$ns --warehouse warehouse.duckdb build
$ns --warehouse warehouse.duckdb export --out export
$ns --warehouse warehouse.duckdb status
echo
echo "done: warehouse.duckdb and export/. Ad-hoc SQL: .venv/bin/neurostock sql \"select rating, count(*) from full_set group by all\""
