#!/usr/bin/env bash
# `make dev`: the whole stack on one machine — SQLite (or DATABASE_URL), Redis, an operator-mode nats-server
# configured by our own `nats_export`, Celery worker and beat, and daphne — under honcho, each process restarted
# by deploy/keep_running.py when it exits. Ctrl-C stops it all.
source "$(dirname "$0")/common.sh"

STATE="${STATE_DIR:-$ROOT/.state}"
WEB_HOST="${WEB_HOST:-127.0.0.1}"
WEB_PORT="${WEB_PORT:-8000}"
NATS_PORT="${NATS_PORT:-4223}"
NATS_WS_PORT="${NATS_WS_PORT:-8223}"
NATS_HTTP_PORT="${NATS_HTTP_PORT:-8222}"
REDIS_PORT="${REDIS_PORT:-6379}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
  || die "Python 3.11 or newer is required (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11."

# Fails with one sentence per port a server could not listen on (TIME_WAIT sockets from a stack just stopped
# do not count: the servers bind with SO_REUSEADDR, and so does the check).
"$PYTHON" deploy/port_check.py "WEB_PORT=$WEB_HOST:$WEB_PORT" "NATS_PORT=127.0.0.1:$NATS_PORT" \
  "NATS_WS_PORT=127.0.0.1:$NATS_WS_PORT" "NATS_HTTP_PORT=127.0.0.1:$NATS_HTTP_PORT" || exit 1

ensure_venv "dev"
mkdir -p "$STATE"

# Secrets generated once and kept, so that encrypted seeds stay readable across restarts.
if [ ! -f "$STATE/dev.env" ]; then
  "$VENV/bin/python" - > "$STATE/dev.env" <<'PY'
import base64, os, secrets
print(f"SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"STONEAGE_SECRET_KEYS={base64.urlsafe_b64encode(os.urandom(32)).decode()}")
PY
  chmod 600 "$STATE/dev.env"
fi
set -a; source "$STATE/dev.env"; set +a
export DEBUG=1
export DJANGO_SETTINGS_MODULE=stoneage.settings
export DATABASE_URL="${DATABASE_URL:-sqlite:///$STATE/db.sqlite3}"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"
export SITE_URL="${SITE_URL:-http://$WEB_HOST:$WEB_PORT}"
export VENV STATE_DIR="$STATE" WEB_HOST WEB_PORT NATS_CONFIG_DIR="$STATE/nats"

cp deploy/Procfile.dev "$STATE/Procfile"
redis_answers() { "$VENV/bin/python" -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$REDIS_URL" 2>/dev/null; }
if redis_answers; then
  echo "Using the Redis at $REDIS_URL"
else
  "$PYTHON" deploy/port_check.py "REDIS_PORT=127.0.0.1:$REDIS_PORT" \
    || die "no Redis answers at $REDIS_URL and one cannot be started on port $REDIS_PORT; set REDIS_URL or REDIS_PORT."
  command -v redis-server >/dev/null || { echo "Installing Debian's redis-server..."; apt_install redis-server; }
  echo "redis: exec \"\$VENV/bin/python\" deploy/keep_running.py -- redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no --dir '$STATE'" >> "$STATE/Procfile"
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

manage() { "$VENV/bin/python" manage.py "$@"; }
manage migrate --no-input -v 0
manage bootstrap
manage nats_export --output "$STATE/nats" --port "$NATS_PORT" --websocket-port "$NATS_WS_PORT" --http-port "$NATS_HTTP_PORT" >/dev/null

cat <<MSG

Stone Age is starting:
  admin     $SITE_URL/admin/
  API docs  $SITE_URL/api/docs/
  NATS      $NATS_URL (websocket ws://127.0.0.1:$NATS_WS_PORT, monitoring http://127.0.0.1:$NATS_HTTP_PORT)
  Redis     $REDIS_URL
MSG
exec "$VENV/bin/honcho" -f "$STATE/Procfile" -d "$ROOT" start
