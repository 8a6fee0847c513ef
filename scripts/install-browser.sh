#!/usr/bin/env bash
# What the dashboard's browser test needs (tests/dashboard.rs): Debian's Chromium and
# playwright-core from npm, at the version package-lock.json pins, in tests/browser/node_modules.
# Idempotent: returns at once when both are there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "install-browser: installing Debian's chromium"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

command -v node >/dev/null 2>&1 || { echo "install-browser: Node.js (node, npm) is required" >&2; exit 1; }

wanted=$(node -p 'require("./tests/browser/package-lock.json").packages["node_modules/playwright-core"].version')
have=$(node -p 'try { require("./tests/browser/node_modules/playwright-core/package.json").version } catch { "" }')
if [ "$wanted" != "$have" ]; then
  echo "install-browser: installing playwright-core $wanted"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
