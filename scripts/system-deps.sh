#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Firebreak needs, only those that are missing.
#   scripts/system-deps.sh run    python3 with venv (to run the receiver)
#   scripts/system-deps.sh test   + Alertmanager, amtool, Prometheus and promtool (real ones in tests)
#                                   and PostgreSQL's initdb/pg_ctl (the chaos suite's private server)
#                                   and Chromium (the console's browser tests drive it headless)
set -euo pipefail

want=()
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  want+=(python3-venv)
fi
if [ "${1:-run}" = "test" ]; then
  command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
    || want+=(prometheus-alertmanager)
  command -v promtool >/dev/null 2>&1 || want+=(prometheus)
  # Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin.
  command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
    || want+=(postgresql)
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
fi
[ ${#want[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${want[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "please install as root: apt-get install ${want[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# --no-install-recommends: the binaries are wanted, not their services started by the package.
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
