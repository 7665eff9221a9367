"""token_service: owns students and stalls, and issues and verifies their pass tokens."""
