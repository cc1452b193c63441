#!/usr/bin/env bash
# `make test`: installs what the suite needs (Python packages, nebula, chromium) and runs it.
# With DATABASE_URL set the suite runs on that database, otherwise on SQLite. Extra args go to pytest.
source "$(dirname "$0")/common.sh"
ensure_venv "test,dev"
missing=()
command -v nebula-cert >/dev/null || missing+=(nebula)
command -v redis-server >/dev/null || missing+=(redis-server)  # the integration tests run private ones
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The deploy checks validate the Caddyfile and the compose file with the real tools.
command -v caddy >/dev/null || missing+=(caddy)
{ docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; } || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" -m pytest "$@"
