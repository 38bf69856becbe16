#!/usr/bin/env bash
# Installs everything the app needs inside the project: Python packages in .venv/, bun (from the
# npm registry, since Reflex's own download needs the internet) in .tools/, and the frontend
# packages Reflex pins in reflex.lock/. `--test` adds the test tools and Debian's Chromium.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

python_bin=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python_bin="$candidate"; break
  fi
done
[ -n "$python_bin" ] || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
echo "==> Installing Python packages"
extras=""
[ "$with_tests" = 1 ] && extras="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import reflex, sqlmodel, services.core.config" \
  || { echo "error: Python packages did not install" >&2; exit 1; }

if [ ! -x "$REFLEX_BUN_PATH" ]; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm (Node.js 20+) is required" >&2; exit 1; }
  echo "==> Installing bun from the npm registry"
  npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error bun@1.4.4 >/dev/null
fi
"$REFLEX_BUN_PATH" --version >/dev/null

if [ "$with_tests" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "==> Installing Chromium (Debian package) for the browser tests"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

echo "==> Building the web frontend"
reflex export --frontend-only --no-zip --loglevel warning >/dev/null
