"""Where uplinks are kept: SQLite by default (one file, `.nmspec/state.db` in the spec
repository), PostgreSQL when given a `postgresql://` URL (needs `nmspec[postgres]`).

The SQL is the portable subset both speak (INSERT ... ON CONFLICT DO NOTHING, BIGINT, TEXT),
written once with `?` placeholders. The schema is versioned: `nm_schema` holds the version,
and opening a store applies the migrations it has not seen, in order, each in a transaction.
A store written by a newer nmspec is refused rather than guessed at.

Every frame field has a column of its own (readable by any SQL tool, e.g. a dashboard);
nmspec itself reads the payload back through the frame table, so the columns never become a
second definition of the frames.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from engine import frames
from engine.telemetry.uplinks import IngestCounts, Rejected, Uplink

DEFAULT_PATH = Path(".nmspec") / "state.db"


class StoreError(Exception):
    """The store cannot be opened or is not one nmspec can use."""


def _field_columns() -> list[str]:
    seen: list[str] = []
    for frame in frames.FRAMES:
        for field in frame.fields:
            if field.name not in seen:
                seen.append(field.name)
    return seen


FIELD_COLUMNS = tuple(_field_columns())

# (version, statements); never edit a released migration, add the next one
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        "CREATE TABLE uplinks (uid TEXT PRIMARY KEY, device TEXT NOT NULL, device_name TEXT NOT NULL, "
        "source TEXT NOT NULL, received_ms BIGINT NOT NULL, f_cnt BIGINT, f_port INTEGER, payload TEXT NOT NULL, "
        "frame TEXT NOT NULL, layout INTEGER NOT NULL, "
        + ", ".join(f"f_{name} BIGINT" for name in FIELD_COLUMNS) + ")",
        "CREATE INDEX uplinks_by_device ON uplinks (device, received_ms)",
        ("CREATE TABLE rejected (source TEXT NOT NULL, location TEXT NOT NULL, reason TEXT NOT NULL, "
        "device TEXT NOT NULL, received_ms BIGINT)"),
        "CREATE TABLE ingest_counts (name TEXT PRIMARY KEY, n BIGINT NOT NULL)",
    )),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
_COUNT_NAMES = ("received", "stored", "duplicates", "out_of_order", "malformed", "ignored")


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.hostname or "" if parts.port is None else f"{parts.hostname}:{parts.port}"))


class Store:
    """An open store. Not thread-safe: one writer at a time (the ingest loop)."""

    def __init__(self, connection: Any, placeholder: str, description: str):
        self._db = connection
        self._ph = placeholder
        self.description = description
        self._max_fcnt: dict[str, int] | None = None
        self._migrate()

    # -- opening

    @classmethod
    def open(cls, where: str | Path, *, create: bool = True) -> Store:
        """`create=False`: a SQLite file that does not exist is an error, not a new store."""
        text = str(where)
        if text.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg
            except ImportError:
                raise StoreError("a PostgreSQL store needs the psycopg package: pip install 'nmspec[postgres]'") from None
            try:
                pg: Any = psycopg.connect(text)
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to {_without_credentials(text)}: {exc}".strip()) from None
            return cls(pg, "%s", _without_credentials(text))
        path = Path(text.removeprefix("sqlite:///"))
        if not create and not path.is_file():
            raise StoreError(f"no state database at {path} (`nmspec fleet ingest` writes it)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(path))
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None
        return cls(connection, "?", str(path))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema

    def _sql(self, text: str) -> str:
        return text if self._ph == "?" else text.replace("?", self._ph)

    def _execute(self, text: str, params: tuple[Any, ...] = ()) -> Any:
        cursor = self._db.cursor()
        cursor.execute(self._sql(text), params)
        return cursor

    @property
    def schema_version(self) -> int:
        return int(self._execute("SELECT version FROM nm_schema").fetchone()[0])

    def _migrate(self) -> None:
        try:
            self._execute("CREATE TABLE IF NOT EXISTS nm_schema (version INTEGER NOT NULL)")
            if self._execute("SELECT COUNT(*) FROM nm_schema").fetchone()[0] == 0:
                self._execute("INSERT INTO nm_schema (version) VALUES (0)")
            self._db.commit()
            current = self.schema_version
        except Exception as exc:  # noqa: BLE001 - sqlite3's or the PostgreSQL driver's: not a store at all
            self._db.rollback()
            raise StoreError(f"{self.description} is not an nmspec state database: {exc}") from None
        if current > SCHEMA_VERSION:
            raise StoreError(f"{self.description} has schema version {current}; this nmspec reads up to "
                             f"{SCHEMA_VERSION} (a newer nmspec wrote it)")
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            try:
                for statement in statements:
                    self._execute(statement)
                self._execute("UPDATE nm_schema SET version = ?", (version,))
                self._db.commit()
            except Exception:
                self._db.rollback()
                raise

    # -- writing

    def _known_counters(self) -> dict[str, int]:
        if self._max_fcnt is None:
            rows = self._execute("SELECT device, MAX(f_cnt) FROM uplinks GROUP BY device").fetchall()
            self._max_fcnt = {device: int(top) for device, top in rows if top is not None}
        return self._max_fcnt

    def add(self, uplinks: Iterable[Uplink], rejected: Iterable[Rejected] = (), *, received: int = 0,
            ignored: int = 0) -> IngestCounts:
        """Store new uplinks (a repeat is counted, not stored twice) and rejected messages, in
        one transaction; returns what happened, which is also added to the store's totals."""
        counters = self._known_counters()
        columns = ("uid", "device", "device_name", "source", "received_ms", "f_cnt", "f_port", "payload", "frame",
                   "layout") + tuple(f"f_{name}" for name in FIELD_COLUMNS)
        insert = self._sql(f"INSERT INTO uplinks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                           "ON CONFLICT (uid) DO NOTHING")
        stored = duplicates = late = bad = 0
        cursor = self._db.cursor()
        try:
            for up in uplinks:
                row = (up.uid, up.device, up.device_name, up.source, up.received_ms, up.f_cnt, up.f_port,
                       up.payload.hex(), up.frame, int(up.fields["layout"])) + \
                      tuple(up.fields.get(name) for name in FIELD_COLUMNS)
                cursor.execute(insert, row)
                if cursor.rowcount == 1:
                    stored += 1
                    if up.f_cnt is not None:
                        top = counters.get(up.device)
                        if top is not None and up.f_cnt < top:
                            late += 1
                        counters[up.device] = up.f_cnt if top is None else max(top, up.f_cnt)
                else:
                    duplicates += 1
            for r in rejected:
                cursor.execute(self._sql("INSERT INTO rejected (source, location, reason, device, received_ms) "
                                         "VALUES (?, ?, ?, ?, ?)"), (r.source, r.where, r.reason, r.device,
                                                                     r.received_ms))
                bad += 1
            counts = IngestCounts(received=received or stored + duplicates + bad + ignored, stored=stored,
                                  duplicates=duplicates, out_of_order=late, malformed=bad, ignored=ignored)
            self._bump(cursor, counts)
            self._db.commit()
        except Exception:
            self._db.rollback()
            self._max_fcnt = None
            raise
        return counts

    def _bump(self, cursor: Any, counts: IngestCounts) -> None:
        for name in _COUNT_NAMES:
            cursor.execute(self._sql("INSERT INTO ingest_counts (name, n) VALUES (?, ?) "
                                     "ON CONFLICT (name) DO UPDATE SET n = ingest_counts.n + excluded.n"),
                           (name, getattr(counts, name)))

    # -- reading

    def totals(self) -> IngestCounts:
        rows = dict(self._execute("SELECT name, n FROM ingest_counts").fetchall())
        return IngestCounts(**{name: int(rows.get(name, 0)) for name in _COUNT_NAMES})

    def uplinks(self) -> Iterator[Uplink]:
        """Every stored uplink, by device, then receive time, then frame counter."""
        cursor = self._execute("SELECT device, device_name, received_ms, f_cnt, f_port, payload, source FROM uplinks "
                               "ORDER BY device, received_ms, f_cnt")
        for device, name, received, f_cnt, f_port, payload, source in cursor:
            data = bytes.fromhex(payload)
            yield Uplink(device, name, int(received), None if f_cnt is None else int(f_cnt),
                         None if f_port is None else int(f_port), data, source, frames.decode(data))

    def rejected(self) -> list[Rejected]:
        rows = self._execute("SELECT source, location, reason, device, received_ms FROM rejected "
                             "ORDER BY location, reason").fetchall()
        return [Rejected(s, w, r, d, None if t is None else int(t)) for s, w, r, d, t in rows]
