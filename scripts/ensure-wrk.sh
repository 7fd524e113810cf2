#!/usr/bin/env bash
# wrk, for bench/bench_compare.py only (the gateway's ceiling beside Locust): installed where
# this machine allows it; otherwise say how, and let the install go on (nothing else needs it).
set -uo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing wrk with apt-get (for bench/bench_compare.py)" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 \
     || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "wrk is not installed (only bench/bench_compare.py needs it): sudo apt-get install -y wrk, or brew install wrk" >&2
exit 0
