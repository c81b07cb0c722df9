#!/usr/bin/env bash
# Sets up everything bridgehead needs on a fresh Debian machine (run as root):
#   scripts/setup.sh          Python venv with the runtime dependencies
#   scripts/setup.sh --dev    also the Debian packages and Python packages the tests
#                             and benchmarks use (nginx, apache2, haproxy, heimdal, ...)
# Idempotent: what is already there is skipped. No service is started by apt
# (a temporary policy-rc.d stops postinst scripts from binding *:80 or *:88).
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

RUNTIME_DEBS=(python3 python3-venv python3-dev gcc libkrb5-dev openssl curl)
DEV_DEBS=(nginx libnginx-mod-stream apache2 haproxy tinyproxy goaccess heimdal-kdc heimdal-clients
          libapache2-mod-auth-gssapi wrk procps chromium libnss3-tools postgresql squid)

need=()
debs=("${RUNTIME_DEBS[@]}")
((DEV)) && debs+=("${DEV_DEBS[@]}")
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if ((${#need[@]})); then
    echo "setup: installing Debian packages: ${need[*]}"
    had_policy=0; had_conf=0
    [ -e /usr/sbin/policy-rc.d ] && had_policy=1
    [ -e /etc/krb5.conf ] && had_conf=1
    ((had_policy)) || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
    rc=0
    { apt-get update -qq &&
      env -u KRB5_CONFIG -u KRB5CCNAME DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; } || rc=$?
    ((had_policy)) || rm -f /usr/sbin/policy-rc.d
    ((had_conf)) || rm -f /etc/krb5.conf
    ((rc == 0)) || { echo "setup: apt-get failed (exit $rc)" >&2; exit $rc; }
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.bridgehead-installed$((DEV))
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --upgrade pip >/dev/null
    if ((DEV)); then
        .venv/bin/pip install -q -e '.[dev]'
    else
        .venv/bin/pip install -q -e .
    fi
    touch "$stamp"
fi
if ((DEV)) && [ ! -x .venv-bench/bin/mitmdump ]; then
    # mitmproxy pins its own versions of shared libraries: keep it apart.
    "$PY" -m venv .venv-bench
    .venv-bench/bin/pip install -q mitmproxy >/dev/null || echo "setup: mitmproxy not installed (benchmarks skip it)" >&2
fi
echo "setup: ready (.venv/bin/bridgehead)"
