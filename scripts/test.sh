#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it.
# Debian packages: mosquitto (the reliability tests' broker, with mosquitto_passwd and
# mosquitto_ctrl), openssl (the TLS tests' certificates), chromium (the dashboard's
# browser test) and postgresql (the state store's and the reliability tests' second database;
# the tests start their own server), with apt-get when missing (sudo when not root); Python: pinned CPU PyTorch and
# the package with its `dev` extra.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v chromium >/dev/null || need+=(chromium chromium-driver)
command -v openssl >/dev/null || need+=(openssl)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    S=
    [ "$(id -u)" -eq 0 ] || S=sudo
    $S apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $S apt-get install -y -qq "${need[@]}"
fi
python3 -m pip install -q --disable-pip-version-check torch==2.13.0 -e '.[dev]'
python3 -m pytest -q --durations=12 "$@"
