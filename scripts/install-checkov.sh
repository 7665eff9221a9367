#!/usr/bin/env bash
# Installs the pinned checkov (the IaC scanner `make test` runs over deploy/) into its own venv
# under .tools/: it pins dozens of packages (boto3, numpy, an older packaging) that must not
# change the versions the services are tested on.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV_VERSION=3.3.30
VENV=.tools/checkov
if [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/checkov" --version)" = "$CHECKOV_VERSION" ]; then exit 0; fi
mkdir -p .tools
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION"
"$VENV/bin/checkov" --version
