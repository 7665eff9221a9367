"""A scanner that keeps working when the gate loses Wi-Fi: a worked example for qrpass.

It verifies passes itself, with the public keys from /v1/jwks and the signed revocation list from
/v1/revocations, keeps who came in on this device, and uploads its scans when the network is back
(POST /v1/checkins:batch), where the server's ledger settles conflicts between gates.

Needs httpx and PyJWT with its crypto extra; any JOSE library with EdDSA works the same way.
Run it against a gateway:  python offline_scanner.py http://localhost:8080 SCANNER_KEY GATE TOKEN
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import jwt

ISSUER, AUDIENCE = "qrpass", "qrpass-gate"  # JWT_ISSUER and JWT_AUDIENCE of the deployment


@dataclass
class Answer:
    """What to show the volunteer."""

    ok: bool  # green (let them through) or red
    admission: str  # admitted, already_inside, exited, not_inside or rejected
    reason: str = ""  # why red: bad_signature, unknown_key, revoked, expired, malformed...
    subject: str = ""  # "student S00001": what the volunteer may check against an ID card


@dataclass
class OfflineScanner:
    base_url: str
    api_key: str
    gate: str
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    # (kind, subject_id) -> the lowest pass version that still verifies; None: no pass does.
    revoked: dict[tuple[str, str], int | None] = field(default_factory=dict)
    cursor: str = ""
    inside: dict[tuple[str, str], str] = field(default_factory=dict)  # -> when they came in here
    pending: list[dict[str, str]] = field(default_factory=list)  # scans not uploaded yet

    def _http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10)

    def sync(self) -> None:
        """Fetch the keys and the revocations since the last sync; upload pending scans."""
        with self._http() as http:
            jwks = http.get("/v1/jwks").raise_for_status().json()
            # Each key pins its algorithm: a token naming another one is refused.
            self.keys = {key["kid"]: jwt.PyJWK(key) for key in jwks["keys"]}
            params = {"since": self.cursor} if self.cursor else {}
            signed = http.get("/v1/revocations", params=params).raise_for_status().text
        key = self.keys[jwt.get_unverified_header(signed)["kid"]]
        payload = json.loads(jwt.api_jws.decode(signed, key, algorithms=[key.algorithm_name]))
        if payload["full"]:
            self.revoked.clear()
        for entry in payload["revocations"]:
            self.revoked[(entry["kind"], entry["subject_id"])] = entry["min_version"]
        self.cursor = payload["cursor"]
        if self.pending:
            self.upload()

    def check(self, token: str, direction: str = "in") -> Answer:
        """Decide at the gate without the network, and queue the scan for upload."""
        answer = self._decide(token, direction)
        self.pending.append({
            "token": token, "gate": self.gate, "direction": direction,
            "scan_id": str(uuid.uuid4()), "scanned_at": datetime.now(UTC).isoformat(),
        })  # fmt: skip
        return answer

    def _decide(self, token: str, direction: str) -> Answer:
        try:
            key = self.keys.get(jwt.get_unverified_header(token).get("kid", ""))
            if key is None:
                return Answer(False, "rejected", "unknown_key")
            claims = jwt.decode(
                token, key, algorithms=[key.algorithm_name], issuer=ISSUER, audience=AUDIENCE,
                options={"require": ["sub", "kind", "ver", "iss", "aud"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            return Answer(False, "rejected", "expired")
        except jwt.InvalidSignatureError:
            return Answer(False, "rejected", "bad_signature")
        except jwt.InvalidTokenError:
            return Answer(False, "rejected", "malformed")
        subject = (claims["kind"], claims["sub"])
        label = f"{claims['kind']} {claims['sub']}"
        if subject in self.revoked:
            min_version = self.revoked[subject]
            if min_version is None or claims["ver"] < min_version:
                return Answer(False, "rejected", "revoked", label)
        if direction == "out":
            admission = "exited" if self.inside.pop(subject, None) else "not_inside"
            return Answer(True, admission, subject=label)
        if subject in self.inside:
            return Answer(False, "already_inside", f"entered at {self.inside[subject]}", label)
        self.inside[subject] = datetime.now(UTC).isoformat()
        return Answer(True, "admitted", subject=label)

    def upload(self) -> list[dict]:
        """Send the pending scans; the server answers each (conflicts come back already_inside)."""
        results = []
        with self._http() as http:
            while self.pending:
                batch = self.pending[:1000]
                reply = http.post("/v1/checkins:batch", json={"scans": batch})
                results += reply.raise_for_status().json()["results"]
                del self.pending[: len(batch)]  # only once the server has them
        return results


if __name__ == "__main__":
    base_url, api_key, gate, token = sys.argv[1:5]
    scanner = OfflineScanner(base_url, api_key, gate)
    scanner.sync()
    print(scanner.check(token))
    print(scanner.upload())
