#!/usr/bin/env bash
# Makes sure Debian's headless Chromium is at /usr/bin/chromium (the schedule
# report test drives it with playwright-core, which never downloads a
# browser). Idempotent: does nothing when it is already installed. Prints the
# path on success; exits non-zero with a message when it cannot install it.
set -uo pipefail
BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $BIN is missing and apt-get is not available to install it" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure-chromium: $BIN is missing and installing it needs root (apt-get install -y chromium)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; then
  echo "ensure-chromium: apt-get install -y chromium failed" >&2
  exit 1
fi
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
echo "ensure-chromium: chromium installed but $BIN is missing" >&2
exit 1
