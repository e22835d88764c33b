#!/usr/bin/env bash
# Installs everything flamewatch's build and tests need on a fresh Debian machine.
# Idempotent: tools already present are left alone. Needs root (or sudo) for apt-get.
set -euo pipefail

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)      # validates /metrics output
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)                    # test programs for record
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)              # `go tool pprof` reads our pprof
ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)  # trend plots

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
  exit 2
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
