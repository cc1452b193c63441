#!/usr/bin/env bash
# `make bench`: runs every benchmark in bench/ with the project's virtualenv, one after the other. Each prints the
# figures it measured in this run next to its goal; the NATS push benchmark starts its own redis-server,
# nats-server and Celery worker on free ports. Exits non-zero if a benchmark fails.
source "$(dirname "$0")/common.sh"
ensure_venv "dev"
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nebula-cert >/dev/null || missing+=(nebula)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
export PATH="$VENV/bin:$PATH"
failed=()
for script in bench/bench_*.py; do
  echo "== $script"
  "$VENV/bin/python" "$script" || failed+=("$script")
  echo
done
[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
