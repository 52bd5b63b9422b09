#!/usr/bin/env bash
# All tests: lint, then pytest (which also runs `dbt build` — models, data
# tests and unit tests — on a real sample warehouse, and opens the HTML report
# in headless Chromium). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/setup_browser.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
