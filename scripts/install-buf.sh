#!/usr/bin/env bash
# Installs the pinned buf CLI from the npm registry into .tools/ (the PyPI "buf" is unrelated).
set -euo pipefail
cd "$(dirname "$0")/.."
BUF_VERSION=1.75.0
BIN=.tools/node_modules/.bin/buf
if [ -x "$BIN" ] && [ "$("$BIN" --version)" = "$BUF_VERSION" ]; then exit 0; fi
mkdir -p .tools
npm install --silent --no-audit --no-fund --prefix .tools "@bufbuild/buf@$BUF_VERSION" >/dev/null
"$BIN" --version
