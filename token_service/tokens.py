"""Pass tokens: signing, and decoding into a verdict without ever raising on bad input."""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import jwt

from qrpass.vocabulary import BY_NAME, ID_PATTERN, KINDS, STALL, STUDENT
from token_service.keys import KeyRing

_LEEWAY_SECONDS = 30
# The original wrote the kind in capitals: "STUDENT", "STALL".
_LEGACY_KINDS = {kind.name.upper(): kind for kind in KINDS}
_REQUIRED = ["sub", "kind", "ver", "iat", "iss", "aud"]


class Failure(enum.Enum):
    """Why a token is not a valid pass; names match the proto's FailureReason."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    WRONG_KIND = "wrong_kind"
    REVOKED = "revoked"
    EXPIRED = "expired"
    SUBJECT_NOT_FOUND = "subject_not_found"


@dataclass(frozen=True)
class Claims:
    """What a correctly signed token says."""

    kind: str
    subject_id: str
    version: int
    kid: str
    legacy: bool = False


@dataclass(frozen=True)
class Decoded:
    """A decode result: claims, or a failure (with the kid when the header named one)."""

    claims: Claims | None
    failure: Failure | None
    kid: str = ""


def _fail(failure: Failure, kid: str = "") -> Decoded:
    return Decoded(None, failure, kid)


class TokenCodec:
    """Signs pass tokens with the key ring's active key and decodes scanned ones."""

    def __init__(
        self,
        keyring: KeyRing,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int = 0,
        legacy_secret: str | None = None,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._legacy_secret = legacy_secret
        self._required = [*_REQUIRED, "exp"] if ttl_seconds > 0 else _REQUIRED

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def sign(
        self, kind: str, subject_id: str, version: int, now: int | None = None
    ) -> tuple[str, str]:
        """Return (token, kid); the same inputs and key give the same bytes (Ed25519)."""
        key = self._keyring.active
        iat = int(time.time()) if now is None else now
        claims: dict[str, object] = {
            "sub": subject_id,
            "kind": kind,
            "ver": version,
            "iat": iat,
            "iss": self._issuer,
            "aud": self._audience,
        }
        if self._ttl > 0:
            claims["exp"] = iat + self._ttl
        # "typ": None drops the optional typ header: every byte saved shrinks the QR.
        token = jwt.encode(
            claims, key.signing_key, algorithm=key.alg, headers={"kid": key.kid, "typ": None}
        )
        return token, key.kid

    def is_current(self, token: str, kid: str | None, now: int | None = None) -> bool:
        """Whether a stored token can still be handed out, or must be re-signed."""
        if not kid or self._keyring.get(kid) is None:
            return False
        if self._ttl > 0:
            now = int(time.time()) if now is None else now
            expires = expires_at(token)
            # Re-sign at half-life, so a pass handed out always has time left on it; a pass
            # signed before the lifetime was set has no `exp` and is re-signed at once.
            return expires is not None and now < expires - self._ttl // 2
        return True

    def still_valid(self, token: str, kid: str | None) -> bool:
        """Whether a token this service signed (with `kid`) verifies now."""
        if not kid or self._keyring.get(kid) is None:
            return False
        if self._ttl > 0:
            expires = expires_at(token)
            return expires is not None and time.time() <= expires + _LEEWAY_SECONDS
        return True

    def decode(self, token: str) -> Decoded:
        if not token.isascii() or token.count(".") != 2:
            return _fail(Failure.MALFORMED)
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return _fail(Failure.MALFORMED)
        alg, kid = header.get("alg"), header.get("kid")
        if kid is None:
            if self._legacy_secret is not None and alg == "HS256":
                return self._decode_legacy(token)
            return _fail(Failure.UNKNOWN_KEY)
        if not isinstance(kid, str) or not ID_PATTERN.fullmatch(kid):
            return _fail(Failure.UNKNOWN_KEY)
        key = self._keyring.get(kid)
        if key is None:
            return _fail(Failure.UNKNOWN_KEY, kid)
        if alg != key.alg:  # the key pins its algorithm: no alg=none, no HS256-with-public-key
            return _fail(Failure.BAD_SIGNATURE, kid)
        try:
            payload = jwt.decode(
                token,
                key.verifying_key,
                algorithms=[key.alg],
                issuer=self._issuer,
                audience=self._audience,
                leeway=_LEEWAY_SECONDS,
                options={"require": self._required},
            )
        except jwt.InvalidSignatureError:
            return _fail(Failure.BAD_SIGNATURE, kid)
        except jwt.ExpiredSignatureError:
            return _fail(Failure.EXPIRED, kid)
        except jwt.MissingRequiredClaimError as error:
            # With a lifetime set, a pass without `exp` (signed before) has outlived it.
            return _fail(Failure.EXPIRED if error.claim == "exp" else Failure.MALFORMED, kid)
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return _fail(Failure.MALFORMED, kid)
        sub, kind, ver = payload.get("sub"), payload.get("kind"), payload.get("ver")
        if (
            not isinstance(sub, str)
            or not ID_PATTERN.fullmatch(sub)
            or kind not in BY_NAME
            or type(ver) is not int
            or ver < 1
        ):
            return _fail(Failure.MALFORMED, kid)
        return Decoded(Claims(kind, sub, ver, kid), None, kid)

    def _decode_legacy(self, token: str) -> Decoded:
        """A pass printed by the original system: HS256, no kid, a `type` and a checksum."""
        secret = self._legacy_secret or ""
        try:
            payload = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.InvalidSignatureError:
            return _fail(Failure.BAD_SIGNATURE)
        except jwt.ExpiredSignatureError:
            return _fail(Failure.EXPIRED)
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return _fail(Failure.MALFORMED)
        named = _LEGACY_KINDS.get(str(payload.get("type")))
        if named is None:
            return _fail(Failure.MALFORMED)
        kind = named.name
        subject_id = payload.get(named.id_field)
        second = payload.get("email" if named is STUDENT else STALL.identity_field)
        if not isinstance(subject_id, str | int) or not ID_PATTERN.fullmatch(str(subject_id)):
            return _fail(Failure.MALFORMED)
        expected = legacy_checksum(str(subject_id), _js_str(second), secret)
        if not hmac.compare_digest(str(payload.get("checksum", "")), expected):
            return _fail(Failure.BAD_SIGNATURE)
        # Legacy passes count as version 1, so rotating the subject revokes them too.
        return Decoded(Claims(kind, str(subject_id), 1, "", legacy=True), None)


@functools.lru_cache(maxsize=65_536)
def expires_at(token: str) -> int | None:
    """The `exp` claim of a token this service signed (its signature was checked at signing)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    except (IndexError, ValueError):
        return None
    expires = payload.get("exp") if isinstance(payload, dict) else None
    return expires if type(expires) is int else None


def _js_str(value: object) -> str:
    """The original system built its checksum with JavaScript string interpolation."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def legacy_checksum(subject_id: str, second_field: str, secret: str) -> str:
    """sha256(id + email-or-stall-number + secret), first 16 hex digits, as the original did."""
    return hashlib.sha256(f"{subject_id}{second_field}{secret}".encode()).hexdigest()[:16]
