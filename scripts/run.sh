#!/usr/bin/env bash
# Sets everything up and runs the gateway on embedded defaults: `bridgehead serve` with the
# inspecting forward proxy on 127.0.0.1:8080, the admin console, /metrics and /healthz on
# 127.0.0.1:9090, and the CA, SQLite configuration store and logs under ./state. Extra
# arguments go to `bridgehead serve` (e.g. --config gateway.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/bridgehead serve --state-dir state "$@"
