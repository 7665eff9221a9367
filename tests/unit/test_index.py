"""The subject index against an SQLite store: what one replica writes, another applies in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from token_service.index import RELOAD_THRESHOLD, IndexUpdate, SubjectIndex
from token_service.store import Base, SubjectStore, create_db_engine


def _sign(kind: str, subject_id: str, version: int) -> tuple[str, str]:
    return f"{kind}.{subject_id}.v{version}", "k1"


@pytest.fixture
def stores(tmp_path: Path) -> tuple[SubjectStore, SubjectStore]:
    url = f"sqlite:///{tmp_path}/q.db"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine)
    return SubjectStore(engine), SubjectStore(create_db_engine(url))  # two replicas


def _rows(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"S{i}", "registration_no": f"R{i}", "name": f"N{i}", "email": f"s{i}@x"}
        for i in range(count)
    ]


def test_load_then_follow_another_replicas_writes(stores):
    writer, reader = stores
    writer.upsert("student", _rows(3), _sign)
    index = SubjectIndex(reader)
    index.load()
    assert index.get("student", "S1").token == "student.S1.v1"
    assert index.by_token("student.S1.v1").id == "S1"
    updates: list[IndexUpdate] = []
    index.subscribe(updates.append)

    writer.rotate("student", "S1", _sign)
    writer.delete("student", "S2")
    assert index.get("student", "S1").version == 1  # not applied until synced
    update = index.sync()
    assert update is not None and update.changes == (("student", "S1"), ("student", "S2"))
    assert index.get("student", "S1").token == "student.S1.v2"
    assert index.by_token("student.S1.v1") is None  # the replaced token is gone
    assert index.get("student", "S2") is None and index.by_token("student.S2.v1") is None
    assert index.sequence == writer.last_sequence()
    assert updates == [update]
    assert index.sync() is None  # nothing new


def test_many_changes_reload_the_kind_and_still_name_each_subject(stores):
    writer, reader = stores
    index = SubjectIndex(reader)
    index.load()
    count = RELOAD_THRESHOLD * 12  # more than one batch of the log: applied as one update
    writer.upsert("student", _rows(count), _sign)
    updates: list[IndexUpdate] = []
    index.subscribe(updates.append)
    update = index.sync()
    assert updates == [update]
    assert update is not None and not update.reset and len(update.changes) == count
    assert [r.token for r in update.records[:2]] == ["student.S0.v1", "student.S1.v1"]
    assert index.size("student") == count


def test_what_changed_since_a_position_comes_from_the_log(stores):
    writer, reader = stores
    writer.upsert("student", _rows(3), _sign)
    index = SubjectIndex(reader)
    index.load()
    position = index.sequence
    writer.rotate("student", "S1", _sign)
    writer.rotate("student", "S1", _sign)
    writer.delete("student", "S2")
    assert index.changed_since(position, limit=10) == [("student", "S1"), ("student", "S2")]
    assert index.changed_since(position, limit=2) is None  # more changes than the limit
    assert index.changed_since(writer.last_sequence(), limit=10) == []
    index.sync()
    sequence, records = index.current([("student", "S1"), ("student", "S2")])
    assert sequence == writer.last_sequence()
    assert records[0] is not None and records[0].version == 3 and records[1] is None
    at, everyone = index.snapshot()
    assert at == sequence and sorted(r.id for r in everyone) == ["S0", "S1"]


def test_a_subject_reimported_after_deletion_keeps_counting_versions(stores):
    writer, reader = stores
    writer.upsert("student", _rows(1), _sign)
    index = SubjectIndex(reader)
    index.load()
    writer.delete("student", "S0")
    index.sync()
    assert index.get("student", "S0") is None
    writer.upsert("student", _rows(1), _sign)
    index.sync()
    assert index.get("student", "S0").version == 2
