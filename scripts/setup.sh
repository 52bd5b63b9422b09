#!/usr/bin/env bash
# Creates .venv in the repository root and installs everything pinned
# (requirements.lock), then installs DuckDB's sqlite and vss extensions from
# the files their PyPI packages carry. Offline after the package download;
# fast and silent when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${NEUROSTOCK_PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "setup: Python 3.11 is required (set NEUROSTOCK_PYTHON to its path)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python" >&2
  "$python" -m venv .venv
fi

stamp=.venv/.neurostock-installed
wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing pinned packages into .venv (first run takes a minute)" >&2
  # This machine's pip config names local package folders that may be absent; hide that noise.
  # pip byte-compiles every package here; keep it (no --no-compile): these machines and CI
  # set PYTHONDONTWRITEBYTECODE=1, so nothing is compiled and kept at first import, and
  # without it every process compiles torch and dbt again (7 Dec 2026: suite 716 -> 819 s).
  # requirements.lock is complete (every package, setuptools included: `pip check` below
  # says so), so it installs with --no-deps in two halves at once: pip unpacks and
  # compiles on one core, and the halves take the two (7 Dec 2026, this 2-core machine:
  # 69 s instead of 115 s).
  halves=$(mktemp -d)
  trap 'rm -rf "$halves"' EXIT
  grep -v '^#' requirements.lock | awk -v dir="$halves" 'NF { print > (dir "/half" (NR % 2) ".txt") }'
  pids=()
  for half in "$halves"/half*.txt; do
    .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r "$half" 2> >(grep -v "^WARNING: Location 'file:" >&2) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { echo "setup: installing requirements.lock failed (pip's message above)" >&2; exit 1; }
  done
  .venv/bin/pip check --disable-pip-version-check >/dev/null || {
    echo "setup: requirements.lock is incomplete: $(.venv/bin/pip check --disable-pip-version-check 2>&1 | head -1)" >&2; exit 1; }
  # The project itself, editable: built with the venv's own setuptools when it is recent
  # enough (a dependency brings it), which spares pip a throw-away build env (~5 s).
  isolation=""
  if .venv/bin/python -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null; then
    isolation="--no-build-isolation"
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps $isolation -e . 2> >(grep -v "^WARNING: Location 'file:" >&2)
  echo "$wanted" > "$stamp"
fi

.venv/bin/python -c 'import duckdb; from neurostock.core.warehouse import ensure_extensions; ensure_extensions(duckdb.connect())'
