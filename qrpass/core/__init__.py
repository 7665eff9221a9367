"""The small shared core: settings, logging, metrics and gRPC plumbing."""
