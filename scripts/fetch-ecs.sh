#!/usr/bin/env bash
# The ECS field definitions the tests check wormsign's ECS alerts against (tests/outputs): Elastic's
# @elastic/ecs package from npm, pinned by tests/outputs/ecs/package-lock.json, written out as one
# JSON file (ecs_flat.json, not tracked). Run by scripts/setup.sh when npm is there.
set -euo pipefail
cd "$(dirname "$0")/../tests/outputs/ecs"
npm ci --no-audit --no-fund --ignore-scripts --silent
node -e 'const m = require("@elastic/ecs"); process.stdout.write(JSON.stringify({version: m.EcsVersion, fields: m.EcsFlat}))' > ecs_flat.json
rm -rf node_modules
echo "wrote $(wc -c < ecs_flat.json) bytes of ECS field definitions to tests/outputs/ecs/ecs_flat.json"
