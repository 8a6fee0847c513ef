#!/usr/bin/env bash
# Makes sure the repository's tool venv (.venv-tools, shared with schemathesis) holds moto's S3
# server at one exact version, for the image-store tests (tests/common/s3.rs). Idempotent: when
# that version and its server extra are already there it returns at once without touching pip.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-tools
version=5.2.5

# Checking the installed metadata rather than only `bin/moto_server`: the entry point is installed
# even without the `server` extra, and then it fails at start for lack of flask.
installed() {
  [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
assert version("moto") == sys.argv[1]
version("flask")
version("flask-cors")
PY
}

if installed; then
  exit 0
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
echo "install-moto: installing moto[server]==$version into $venv"
"$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$version"
installed || { echo "install-moto: moto $version is still not usable in $venv" >&2; exit 1; }
