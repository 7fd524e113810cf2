#!/usr/bin/env bash
# Optional tools, installed where this machine allows it (root with apt-get); without them the
# install goes on and says how to get them, and what needs them skips with that reason.
#   wrk       bench/bench_compare.py (the gateway's ceiling beside Locust)
#   chromium  tests/reports/test_browser.py (a real browser looks at the reports)
set -uo pipefail
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get (optional: benchmarks and the browser test)" >&2
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; }
  if install || { apt-get update -qq >/dev/null 2>&1 && install; }; then
    exit 0
  fi
fi
echo "optional tools missing: ${missing[*]} (sudo apt-get install -y ${missing[*]}; brew install wrk" \
     "and a Chromium on macOS); what needs them is skipped" >&2
exit 0
