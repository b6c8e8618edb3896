#!/usr/bin/env bash
# Bundle the browser libraries of the report and dashboard into the package (run once after a
# checkout, and in CI): nothing is fetched when a report is written or the dashboard served.
set -euo pipefail
cd "$(dirname "$0")/../src/wormsign/web"
npm ci --no-audit --no-fund --ignore-scripts --silent
mkdir -p vendor
cp node_modules/cytoscape/dist/cytoscape.min.js vendor/cytoscape.min.js
cp node_modules/cytoscape/LICENSE vendor/cytoscape.LICENSE
rm -rf node_modules
echo "bundled $(wc -c < vendor/cytoscape.min.js) bytes of cytoscape into src/wormsign/web/vendor/"
