"""gateway: the thin HTTP/JSON front; authenticates callers and turns HTTP into gRPC calls."""
