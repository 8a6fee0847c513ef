#!/usr/bin/env bash
# What the dashboard's browser test needs (tests/dashboard.rs): Debian's Chromium, and
# playwright-core and axe-core from npm, at the versions package-lock.json pins, in
# tests/browser/node_modules.
# Idempotent: returns at once when all are there.
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

# Every package the lock file names, at its version: otherwise `npm ci` puts them there.
locked() {
  node -e '
    const lock = require("./tests/browser/package-lock.json");
    for (const [path, p] of Object.entries(lock.packages)) {
      if (!path) continue;
      try {
        if (require(`./tests/browser/${path}/package.json`).version !== p.version) process.exit(1);
      } catch {
        process.exit(1);
      }
    }'
}
if ! locked; then
  echo "install-browser: installing the browser test's npm packages (playwright-core, axe-core)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
