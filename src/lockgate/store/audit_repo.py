"""The audit log: append-only rows chained by SHA-256, and the check that the chain is whole.

Each row's ``hash`` is SHA-256 of the previous row's hash and the row's canonical content, so
editing a row breaks its own hash, and inserting or deleting one breaks the link of the row
after it. ``audit_head`` holds the hash and number of the last row appended: rows deleted from
the end, or appended behind the gateway's back, disagree with it. Appends serialise on the head
row (its update comes first in the transaction), so several workers or replicas extend one
chain. ``seq`` orders rows but is not hashed: renumbering rows cannot hide an insertion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select, update

from .usage_tables import audit_head, audit_log

GENESIS = "0" * 64
VERIFY_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: datetime
    actor_type: str  # admin | policy
    actor: str  # an admin key id, or a policy name
    action: str
    role: str | None = None
    tenant: str | None = None
    target: str | None = None
    status: int | None = None
    request_id: str | None = None
    before: str | None = None  # JSON text
    after: str | None = None
    details: str | None = None


@dataclass(frozen=True, slots=True)
class AuditFilters:
    tenant: str | None = None
    actor: str | None = None
    actor_type: str | None = None
    action: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    before_seq: int | None = None  # the cursor: rows older than this one


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    seq: int | None = None  # the first row found wrong (or where rows are missing)
    kind: str | None = None  # edited | inserted | deleted
    detail: str = ""


def _ts(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(prev_hash: str, e: AuditEntry | Any) -> str:
    content = [
        _ts(e.ts),
        e.actor_type,
        e.actor,
        e.role,
        e.tenant,
        e.action,
        e.target,
        e.status,
        e.request_id,
        e.before,
        e.after,
        e.details,
    ]
    data = prev_hash.encode() + b"\n" + orjson.dumps(content)
    return hashlib.sha256(data).hexdigest()


class AuditRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, entries: Sequence[AuditEntry]) -> list[int]:
        """Append entries in order; returns their sequence numbers."""
        if not entries:
            return []
        h = audit_head.c
        with self.engine.begin() as conn:
            conn.execute(update(audit_head).where(h.id == 1).values(seq=h.seq))  # lock first
            seq, prev = conn.execute(select(h.seq, h.hash).where(h.id == 1)).one()
            rows = []
            for e in entries:
                seq += 1
                digest = entry_hash(prev, e)
                rows.append(
                    {
                        "seq": seq,
                        "ts": e.ts,
                        "actor_type": e.actor_type,
                        "actor": e.actor,
                        "role": e.role,
                        "tenant": e.tenant,
                        "action": e.action,
                        "target": e.target,
                        "status": e.status,
                        "request_id": e.request_id,
                        "before": e.before,
                        "after": e.after,
                        "details": e.details,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            conn.execute(audit_log.insert(), rows)
            conn.execute(update(audit_head).where(h.id == 1).values(seq=seq, hash=prev))
        return [r["seq"] for r in rows]

    def list(self, f: AuditFilters) -> tuple[list[dict[str, Any]], int | None]:
        a = audit_log.c
        where = []
        for value, col in (
            (f.tenant, a.tenant),
            (f.actor, a.actor),
            (f.actor_type, a.actor_type),
            (f.action, a.action),
        ):
            if value is not None:
                where.append(col == value)
        if f.start is not None:
            where.append(a.ts >= f.start)
        if f.end is not None:
            where.append(a.ts < f.end)
        if f.before_seq is not None:
            where.append(a.seq < f.before_seq)
        stmt = select(audit_log).where(*where).order_by(a.seq.desc()).limit(f.limit + 1)
        with self.engine.connect() as conn:
            found = [dict(r._mapping) for r in conn.execute(stmt)]
        more = len(found) > f.limit
        rows = [_out(r) for r in found[: f.limit]]
        return rows, (rows[-1]["seq"] if more and rows else None)

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            seq, digest = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
            ).one()
        return int(seq), str(digest)

    def verify(self) -> Verdict:
        head_seq, head_hash = self.head()
        with self.engine.connect() as conn:
            return verify_chain(_chunks(conn), head_seq, head_hash)


def _chunks(conn: Any) -> Iterator[Any]:
    after = None
    a = audit_log.c
    while True:
        stmt = select(audit_log).order_by(a.seq).limit(VERIFY_CHUNK)
        if after is not None:
            stmt = stmt.where(a.seq > after)
        batch = conn.execute(stmt).all()
        yield from batch
        if len(batch) < VERIFY_CHUNK:
            return
        after = batch[-1].seq


def verify_chain(rows: Iterable[Any], head_seq: int, head_hash: str) -> Verdict:
    """Walk rows in ``seq`` order; report the first edited, inserted or deleted row."""
    it = iter(rows)
    count = 0
    hashes = [GENESIS]  # hashes of the rows accepted so far (the last two are enough)
    last_seq = 0
    prev_row: Any = None
    for row in it:
        count += 1
        prev = hashes[-1]
        if entry_hash(row.prev_hash, row) != row.hash:
            return _bad(
                count,
                head_seq,
                head_hash,
                row.seq,
                "edited",
                "its content no longer matches its hash",
            )
        if row.prev_hash != prev:
            nxt = next(it, None)
            if nxt is not None and nxt.prev_hash == prev:
                return _bad(
                    count,
                    head_seq,
                    head_hash,
                    row.seq,
                    "inserted",
                    "the rows around it link past it",
                )
            if len(hashes) > 1 and row.prev_hash == hashes[-2] and prev_row is not None:
                return _bad(
                    count,
                    head_seq,
                    head_hash,
                    prev_row.seq,
                    "inserted",
                    "the row after it links past it",
                )
            return _bad(
                count,
                head_seq,
                head_hash,
                last_seq + 1,
                "deleted",
                f"row {row.seq} does not link to row {last_seq}",
            )
        hashes = [hashes[-1], row.hash]
        prev_row = row
        last_seq = row.seq
    if hashes[-1] != head_hash or last_seq != head_seq:
        if last_seq < head_seq:
            return _bad(
                count,
                head_seq,
                head_hash,
                last_seq + 1,
                "deleted",
                f"the log ends at row {last_seq}, the head says {head_seq}",
            )
        return _bad(
            count,
            head_seq,
            head_hash,
            head_seq + 1,
            "inserted",
            f"rows after {head_seq} were appended without the head",
        )
    return Verdict(True, count, head_seq, head_hash)


def _bad(rows: int, head_seq: int, head_hash: str, seq: int, kind: str, detail: str) -> Verdict:
    return Verdict(False, rows, head_seq, head_hash, seq, kind, detail)


def _out(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": r["seq"],
        "time": _ts(r["ts"]),
        "actor_type": r["actor_type"],
        "actor": r["actor"],
        "role": r["role"],
        "tenant": r["tenant"],
        "action": r["action"],
        "target": r["target"],
        "status": r["status"],
        "request_id": r["request_id"],
        "before": _json(r["before"]),
        "after": _json(r["after"]),
        "details": _json(r["details"]),
        "hash": r["hash"],
    }


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)
