#!/usr/bin/env bash
# Install the OS packages the test suite needs (Debian). Idempotent: installs only what is missing,
# and does nothing (not even `apt-get update`) when everything is there. Run as root.
#
#   sudo bash scripts/install-test-deps.sh
#
# - postgresql: tests/postgres_server.py starts a throwaway cluster with its initdb/pg_ctl.
# - chromium: tests/test_web_pages.py drives /usr/bin/chromium with Playwright (headless).
set -euo pipefail

packages=()

# PostgreSQL server binaries (initdb, pg_ctl) live in /usr/lib/postgresql/<major>/bin on Debian.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    packages+=(postgresql)
fi

# Chromium for the browser tests (tests/browser.py launches /usr/bin/chromium, not Playwright's
# own download, so the tests need no internet).
if [[ ! -x /usr/bin/chromium ]]; then
    packages+=(chromium)
fi

# --- More test dependencies go here: one check + `packages+=(name)` each. ----------------------

if ((${#packages[@]} == 0)); then
    echo "install-test-deps: nothing to install"
    exit 0
fi

if ((EUID != 0)); then
    echo "install-test-deps: need root to install: ${packages[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${packages[*]}"
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
