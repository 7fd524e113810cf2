#!/usr/bin/env bash
# Make sure the Prometheus server is on PATH; install it where this machine allows it.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the Prometheus server with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  command -v prometheus >/dev/null 2>&1 && exit 0
fi
echo "The Prometheus server is missing. Install it, then run make again:" >&2
if command -v brew >/dev/null 2>&1; then
  echo "  brew install prometheus" >&2
else
  echo "  sudo apt-get update && sudo apt-get install -y prometheus" >&2
fi
exit 2
