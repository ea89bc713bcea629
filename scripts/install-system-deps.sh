#!/usr/bin/env bash
# Installs the system packages the benchmarks and browser tests need, when they are missing:
# wrk (the HTTP load tool the simulator is compared with) and Debian's chromium (the report is
# rendered in it headless). Idempotent: does nothing when all are there.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    # Not fatal: the harness runs without them; the benchmarks need wrk and the browser test
    # chromium (it is skipped without it, except in CI).
    echo "install-system-deps: no apt-get here; install these yourself: ${missing[*]}" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Try the cached package lists first; refresh them only when that fails.
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
