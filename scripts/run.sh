#!/usr/bin/env bash
# Installs everything, prepares the database (SQLite and the demo store by default) and runs the
# app in production mode on one port; REPEATCART_REDIS_URL and REPEATCART_WEB_WORKERS run it as
# several backend workers sharing state in Redis.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/install.sh
port="${REPEATCART_PORT:-3000}"
export REPEATCART_PUBLIC_URL="${REPEATCART_PUBLIC_URL:-http://localhost:$port}"
repeatcart migrate
repeatcart demo --if-empty
echo "==> The app will be at $REPEATCART_PUBLIC_URL (Ctrl-C stops it)"
# rxconfig.py hands both on to Reflex: the Redis URL as its state manager, the worker count to
# its production server
if [ -n "${REPEATCART_REDIS_URL:-}" ]; then
  echo "==> Shopper state in Redis, ${REPEATCART_WEB_WORKERS:-1} backend worker(s)"
fi
exec reflex run --env prod --frontend-port "$port" --backend-port "$port" --loglevel warning
