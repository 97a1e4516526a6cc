#!/bin/sh
# Installs Debian's Chromium for the browser tests (the Temporal Web UI and report checks) when it is missing.
# Needs root and apt-get; elsewhere, install Chromium yourself and set CHROMIUM_PATH.
set -e
if [ -n "$CHROMIUM_PATH" ] && [ -x "$CHROMIUM_PATH" ]; then exit 0; fi
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: Chromium is missing; install Debian's chromium package (or set CHROMIUM_PATH) for the browser tests" >&2
  exit 1
fi
echo "setup-browser: installing Debian's chromium package"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
