#!/usr/bin/env bash
# Sets everything up and runs the gateway on embedded defaults: the inspecting forward
# proxy on 127.0.0.1:8080, CA and SQLite store under ./state. Extra arguments go to
# `bridgehead forward` (e.g. --listen 127.0.0.1:3128).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/bridgehead forward --listen 127.0.0.1:8080 --state-dir state "$@"
