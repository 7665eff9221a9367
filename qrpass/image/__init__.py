"""Generated gRPC API; do not edit by hand (scripts/generate.sh)."""
