"""What every gateway route promises by its row in gateway/route_table.py: who may call it, and
how /openapi.json documents it. Checked in-process (`make check`) and end to end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.auth import ACCESS_LEVELS
from gateway.route_table import ROUTES
from tests.support.services import ADMIN_KEY, CLIENT_KEY, SCANNER_KEY

# (the key sent, the level it holds): none and a wrong one hold only "public".
KEYS = ((None, "public"), ("wrong-key", "public"), (SCANNER_KEY, "scanner"),
        (CLIENT_KEY, "client"), (ADMIN_KEY, "admin"))  # fmt: skip


@dataclass(frozen=True)
class AuthCase:
    method: str
    path: str  # concrete: a real kind and id in place of the template's
    template: str
    access: str  # the route's level
    key: str | None
    holds: str  # the key's level

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def auth_cases() -> Iterator[AuthCase]:
    """Every route with every kind of key: built from the rows, so no route escapes it."""
    assert len(ROUTES) >= 14
    assert {route.access for route in ROUTES} == set(ACCESS_LEVELS)
    for route in ROUTES:
        concrete = route.path.replace("{kind}", "students").replace("{id}", "S00005")
        for key, holds in KEYS:
            yield AuthCase(route.method, concrete, route.path, route.access, key, holds)


def assert_access(case: AuthCase, reply: httpx.Response) -> None:
    """A key of the route's level or above gets past the check; none or a wrong one gets 401
    with a Bearer challenge; a key below the level gets 403 naming the level."""
    status, where = reply.status_code, (case.method, case.template, case.key, reply.status_code)
    levels = ACCESS_LEVELS.index
    if levels(case.holds) >= levels(case.access):
        assert status not in (401, 403), where
    elif case.holds == "public":
        assert status == 401, where
        assert reply.headers["www-authenticate"] == "Bearer"
    else:
        assert status == 403, where
        assert case.access in reply.json()["detail"]


def assert_documented(document: dict[str, Any]) -> None:
    """/openapi.json has every route, with its access level and its security."""
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["x-qrpass-access"] == route.access, route.path
        assert ("security" in operation) == (route.access != "public"), route.path
        assert operation["operationId"] == route.name
        assert operation["summary"] == route.summary
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == {(route.path, route.method.lower()) for route in ROUTES}
