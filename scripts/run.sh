#!/usr/bin/env bash
# Installs everything, prepares the database (SQLite and the demo store by default) and runs the
# app in production mode on one port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/install.sh
port="${REPEATCART_PORT:-3000}"
export REPEATCART_PUBLIC_URL="${REPEATCART_PUBLIC_URL:-http://localhost:$port}"
repeatcart migrate
repeatcart demo --if-empty
echo "==> The app will be at $REPEATCART_PUBLIC_URL (Ctrl-C stops it)"
exec reflex run --env prod --frontend-port "$port" --backend-port "$port" --loglevel warning
