#!/usr/bin/env bash
# Installs what smartpark needs on a fresh Debian machine, and nothing that is already there.
set -euo pipefail

need_apt=()
have_pg() {
  command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}
have_pg || need_apt+=(postgresql)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Debian's postgresql package creates the `postgres` user that the private server runs as when
# smartpark itself runs as root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "setup: adding the postgres system user"
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
