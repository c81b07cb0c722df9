#!/usr/bin/env bash
# Sets everything up (Debian packages, venv with dev dependencies) and runs every check:
# ruff, mypy (strict on the whole package, see pyproject.toml) and the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy"; mypy
echo "== pytest"
# --reruns 1: integration tests share two cores with real servers; a timing failure is retried
# once and shown as "rerun" in the summary (never hidden); a real failure fails twice.
exec python -m pytest -n 4 --dist loadfile --reruns 1 -q "$@"
