#!/usr/bin/env bash
# Install Debian's headless-capable Chromium at /usr/bin/chromium for the browser test
# (test/api/console_test.ts). Idempotent and quiet: does nothing when it is already there.
# Needs root (CI and the development machines run as root). Exit 0 on success, 1 on failure.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium.sh: not root, cannot install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
start=$(date +%s)
apt_install() {
  apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null 2>&1
}
if ! apt_install; then
  apt-get update -q >/dev/null 2>&1 || true
  apt_install || { echo "chromium.sh: apt-get install chromium failed" >&2; exit 1; }
fi
[ -x /usr/bin/chromium ] || { echo "chromium.sh: /usr/bin/chromium missing after install" >&2; exit 1; }
echo "chromium.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium) in $(( $(date +%s) - start )) s" >&2
