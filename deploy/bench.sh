#!/usr/bin/env bash
# `make bench`: runs every benchmark in bench/ with the project's virtualenv, one after the other, and prints one
# table of what they measured in this run: figure, goal, measured, ratio, met or missed. Each benchmark's own
# output goes to bench/results/<name>.log. Exits non-zero if a benchmark fails or a goal is missed.
source "$(dirname "$0")/common.sh"
ensure_venv "dev" >/dev/null 2>&1 || ensure_venv "dev"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nebula-cert >/dev/null || missing+=(nebula)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}" >/dev/null
export PATH="$VENV/bin:$PATH"
mkdir -p bench/results
failed=()
logs=()
for script in bench/bench_*.py; do
  name="$(basename "$script" .py)"
  log="bench/results/$name.log"
  echo "running $name..." >&2
  "$VENV/bin/python" "$script" >"$log" 2>&1 || failed+=("$script (see $log)")
  logs+=("$log")
done
status=0
"$VENV/bin/python" bench/report.py "${logs[@]}" || status=1
[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
exit "$status"
