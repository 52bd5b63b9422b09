#!/usr/bin/env bash
# The tests. Two tiers (README "Tests: which to run when"):
#   scripts/test.sh          everything (CI, .ci/run): lint, then pytest, which also runs
#                            `dbt build` (models, data tests, unit tests) on real sample
#                            warehouses, real child processes, and the HTML report and
#                            the rating app in headless Chromium
#   scripts/test.sh --fast   the unit tier: lint and every test not marked `slow`; no dbt
#                            runs (a test that starts one fails: NEUROSTOCK_NO_DBT)
# Both run pytest on two workers (pytest-xdist, --dist loadfile: a module's tests run in
# order on one worker, so its module-scoped warehouse is built once; modules in
# collection order, the longest first: tests/conftest.py LONGEST_FIRST).
# Extra args go to pytest (e.g. -k, -x, a file; `-n 0` for one process).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=false
if [ "${1:-}" = "--fast" ]; then
  fast=true
  shift
fi
scripts/setup.sh
.venv/bin/ruff check .
if $fast; then
  exec .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow" "$@"
fi
scripts/setup_browser.sh
exec .venv/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
