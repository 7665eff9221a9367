#!/usr/bin/env bash
# Installs the bench's Node packages (bench/node/package.json: the original's stack and
# autocannon) from the npm registry into .tools/bench-node.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.tools/bench-node
if [ -f "$DIR/package.json" ] && cmp -s bench/node/package.json "$DIR/package.json" \
   && [ -d "$DIR/node_modules/autocannon" ]; then exit 0; fi
command -v npm >/dev/null || { echo "make bench needs Node.js and npm" >&2; exit 1; }
mkdir -p "$DIR"
cp bench/node/package.json "$DIR/package.json"
npm install --silent --no-audit --no-fund --prefix "$DIR" >/dev/null
