#!/usr/bin/env bash
# The main job on the shipped sample: set-up, sample source, ingest, dbt build,
# export, HTML report. Re-running is cheap: an unchanged source is not copied again.
# Outputs: sample/ (source + images), warehouse.duckdb, export/, report/ (HTML).
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
echo "How each score and feature agrees with the ratings (all rated images; docs/analysis.md):"
$ns --warehouse warehouse.duckdb sql "
  select scorer_id, n, round(spearman, 3) as spearman,
         '[' || round(spearman_ci_low, 3) || ', ' || round(spearman_ci_high, 3) || ']' as ci95,
         round(auc, 3) as auc, direction, is_random_init
  from rpt_score_agreement where subset = 'all' order by abs(spearman) desc" --max-rows 12
$ns --warehouse warehouse.duckdb report --out report
echo
echo "done: open report/index.html in a browser (offline). Also warehouse.duckdb and export/."
echo "Ad-hoc SQL: .venv/bin/neurostock sql \"select rating, count(*) from full_set group by all\""
