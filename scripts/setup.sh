#!/usr/bin/env bash
# Set up wormsign from a fresh checkout: a virtual environment with the package and its test
# tools, and the report's browser library bundled from npm (nothing is fetched at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev,spark]'
if command -v npm >/dev/null 2>&1; then
  bash scripts/build-web.sh
  bash scripts/fetch-ecs.sh  # the ECS field definitions the tests check ECS alerts against
else
  echo "npm not found: reports will be written without the interactive graph" >&2
fi
