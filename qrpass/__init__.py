"""qrpass: signed QR passes for students and stalls (shared package: API, CLI and core)."""
