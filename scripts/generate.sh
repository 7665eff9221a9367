#!/usr/bin/env bash
# Generates the Python API in qrpass/{token,image}/v1 from protos/. The output is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
for api in token image; do
  rm -f qrpass/$api/v1/*_pb2*.py qrpass/$api/v1/*_pb2*.pyi
done
# Type stubs come from mypy-protobuf: they type the async stubs too, which grpc_tools' do not.
BIN=$(dirname "$PY")
"$PY" -m grpc_tools.protoc -Iprotos --python_out=. --grpc_python_out=. \
  --plugin=protoc-gen-mypy="$BIN/protoc-gen-mypy" --mypy_out=. \
  --plugin=protoc-gen-mypy_grpc="$BIN/protoc-gen-mypy_grpc" --mypy_grpc_out=. \
  protos/qrpass/token/v1/token_service.proto protos/qrpass/image/v1/image_service.proto
for d in qrpass/token qrpass/token/v1 qrpass/image qrpass/image/v1; do
  [ -f "$d/__init__.py" ] || echo '"""Generated gRPC API; do not edit by hand (scripts/generate.sh)."""' > "$d/__init__.py"
done
