"""gRPC credentials from QRPASS_TLS_* files: TLS, and mTLS when a CA is given."""

from __future__ import annotations

import grpc

from qrpass.core.config import ConfigError, TlsSettings


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    if not tls.enabled:
        return None
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigError(
            "a gRPC server with TLS needs QRPASS_TLS_CERT_FILE and QRPASS_TLS_KEY_FILE"
        )
    pair = (tls.key_file.read_bytes(), tls.cert_file.read_bytes())
    ca = tls.ca_file.read_bytes() if tls.ca_file else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=ca, require_client_auth=ca is not None
    )


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    if not tls.enabled:
        return None
    ca = tls.ca_file.read_bytes() if tls.ca_file else None
    key = tls.key_file.read_bytes() if tls.key_file else None
    cert = tls.cert_file.read_bytes() if tls.cert_file else None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
