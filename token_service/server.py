"""Builds the token service from its settings: store, keys, codec, servicer and gRPC server."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry
from sqlalchemy import inspect

from qrpass.core.grpc_server import MIB, MessageLimits, RunningServer, Service, create_server
from qrpass.token.v1 import token_service_pb2 as pb
from qrpass.token.v1 import token_service_pb2_grpc as pb_grpc
from token_service.errors import STATUS_CODES, SigningKeyError
from token_service.follower import follow_changes
from token_service.gate import Gate, now_ms
from token_service.importer import MAX_FILE_BYTES
from token_service.index import SubjectIndex
from token_service.keys import KeyRing, ensure_development_key
from token_service.ledger import ScanLedger
from token_service.metrics import InsideCollector, TokenMetrics, read_at_scrape
from token_service.passes import PassBook
from token_service.revocations import RevocationList
from token_service.servicer import TokenServicer
from token_service.settings import TokenSettings
from token_service.store import TABLES, SubjectStore, create_db_engine
from token_service.tokens import TokenCodec

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TokenService"].full_name
# An import file and its envelope in; a page of ListTokens (1,000 passes) out.
LIMITS = MessageLimits(receive_bytes=MAX_FILE_BYTES + MIB, send_bytes=4 * MIB)


def build_keyring(settings: TokenSettings) -> KeyRing:
    if settings.algorithm == "EdDSA" and not settings.common.production:
        ensure_development_key(settings.keys_dir)
    return KeyRing(
        settings.keys_dir,
        algorithm=settings.algorithm,
        active_kid=settings.active_kid,
        hs256_secret=settings.jwt_secret,
        production=settings.common.production,
    )


async def create_token_server(
    settings: TokenSettings, registry: CollectorRegistry, address: str | None = None
) -> RunningServer:
    """Start a token service on `address` (default: the settings' listen address)."""
    engine = create_db_engine(settings.database_url)
    tables = set(inspect(engine).get_table_names())
    if not {row.__tablename__ for row in TABLES.values()} <= tables:
        raise SigningKeyError("the database has no qrpass tables; run `qrpass db upgrade` first")
    keyring = build_keyring(settings)
    codec = TokenCodec(
        keyring,
        issuer=settings.issuer,
        audience=settings.audience,
        ttl_seconds=settings.ttl_seconds,
        legacy_secret=settings.legacy_secret,
    )
    if not {"subject_changes", "scans", "presence"} <= tables:
        raise SigningKeyError("the database schema is old; run `qrpass db upgrade` first")
    store = SubjectStore(engine)
    index = SubjectIndex(store)
    index.load()
    metrics = TokenMetrics(registry)
    read_at_scrape(registry, index, keyring)
    executor = ThreadPoolExecutor(8, "db")
    book = PassBook(store, codec, keyring, index, settings.import_max_rows)
    gate = Gate(book, ScanLedger(engine, now_ms))
    registry.register(InsideCollector(gate.inside_counts))
    # Two import threads: one per kind, since imports of one kind wait for each other anyway.
    servicer = TokenServicer(
        book, index, metrics, executor, ThreadPoolExecutor(2, "import"), gate,
        RevocationList(store, keyring),
    )  # fmt: skip
    service = Service(
        SERVICE_NAME, servicer, pb_grpc.add_TokenServiceServicer_to_server, LIMITS, STATUS_CODES
    )
    running = await create_server(address or settings.listen_addr, service, settings.grpc, registry)
    follower = asyncio.ensure_future(follow_changes(index, keyring, metrics, executor))
    running.on_stop += [follower.cancel, servicer.end_watches]
    return running
