"""The gate's rules: what a scan does to a holder who is inside or outside. Pure; no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Admission(enum.Enum):
    """What the gate does with a scan; values match the proto's Admission names."""

    ADMITTED = "admitted"
    ALREADY_INSIDE = "already_inside"
    EXITED = "exited"
    NOT_INSIDE = "not_inside"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)  # per scan, like Decision
class Entry:
    """The entry that counts: when (epoch milliseconds) and where the holder came in."""

    at_ms: int
    gate: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The admission, and who is inside afterwards (the entry that counts, or None: outside)."""

    admission: Admission
    inside: Entry | None


def decide(
    valid: bool, direction: str, inside: Entry | None, gate: str, scanned_at_ms: int
) -> Decision:
    """A scan of a pass whose holder is `inside` (or outside, None) at `gate`, going `direction`.

    An invalid pass changes nothing. An entry of someone inside is a second person on one pass
    (or the same person scanned twice): refused, and the first entry still counts. An exit of
    someone outside is recorded but changes nothing. Re-entry after an exit is admitted.
    """
    if not valid:
        return Decision(Admission.REJECTED, inside)
    if direction == "in":
        if inside is not None:
            return Decision(Admission.ALREADY_INSIDE, inside)
        return Decision(Admission.ADMITTED, Entry(scanned_at_ms, gate))
    if inside is None:
        return Decision(Admission.NOT_INSIDE, None)
    return Decision(Admission.EXITED, None)
