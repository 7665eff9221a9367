"""The `qrpass` operator CLI; it talks to the services over gRPC, never through their code."""
