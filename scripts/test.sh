#!/usr/bin/env bash
# Installs what the tests need (test packages, Chromium) and runs lint, the import contracts,
# the type check and every test:
# unit, integration (SQLite, and PostgreSQL when reachable) and end-to-end in Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/install.sh --test
echo "==> ruff"
ruff check .
ruff format --check --quiet . || { echo "error: run 'ruff format .'" >&2; exit 1; }
echo "==> import contracts (lint-imports)"
lint-imports --no-cache
echo "==> types (mypy)"
mypy
echo "==> pytest"
exec python -m pytest "$@"
