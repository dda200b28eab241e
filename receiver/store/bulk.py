"""Rows appended in bulk within a unit of work on SQLite, as the driver's own INSERT over tuples.

SQLAlchemy's executemany builds every row's parameters anew and binds every value through its
type's processors (a ``UTCDateTime`` has two): for the job runner's history, notification and
route rows, a few for every alert routed and notified, that cost more than SQLite's own work.
Here the statement is built once per table and set of columns, and a value is converted only
where its column needs it, to exactly what SQLAlchemy would bind: times to its SQLite text,
JSON to the standard library's text. The columns are the first row's, as SQLAlchemy takes them.
The rows go in multi-row INSERTs (``engine.insert_rows``), not one step of SQLite's per row.

SQLite only: on PostgreSQL, SQLAlchemy already sends a batch in few statements.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Table
from sqlalchemy.engine import Connection

from receiver.store.engine import insert_rows
from receiver.store.ingest import sqlite_time
from receiver.store.tables import UTCDateTime

_Converter = Callable[[Any], Any]
_Plan = tuple[
    str, str, Callable[[Mapping[str, Any]], tuple[Any, ...]], tuple[tuple[int, _Converter], ...]
]


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # as UTCDateTime refuses it
        raise ValueError("naive datetime given to the store; times must be aware UTC")
    return sqlite_time(value)


def _converter(column_type: Any) -> _Converter | None:
    """What a value of this column becomes on its way to SQLite (None: it goes as it is)."""
    if isinstance(column_type, UTCDateTime):
        return _time
    if isinstance(column_type, JSON):
        return json.dumps  # SQLAlchemy's serializer; None is JSON's null, as it stores it
    if isinstance(column_type, String | Integer | Float | Boolean):
        return None  # no processor on SQLite (a bool is bound as the int it is)
    raise TypeError(f"no bulk conversion for a column of type {column_type!r}")


class BulkInsert:
    """``INSERT INTO table`` for many rows (mappings of column names), optionally ``ON
    CONFLICT (columns) DO NOTHING``."""

    def __init__(self, table: Table, *, on_conflict: Sequence[str] = ()) -> None:
        self._table = table
        self._on_conflict = tuple(on_conflict)
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert ``rows``; how many were inserted (a conflict skips its row)."""
        if not rows:
            return 0
        keys = tuple(rows[0])
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plans[keys] = self._plan(keys)
        head, tail, values_of, converters = plan
        params: list[Any]
        if converters:
            params = []
            converted: dict[Any, Any] = {}  # the rows of a turn share their times
            for row in rows:
                values = list(values_of(row))
                for i, convert in converters:
                    value = values[i]
                    if type(value) is datetime:
                        text = converted.get(value)
                        if text is None:
                            text = converted[value] = convert(value)
                        values[i] = text
                    else:
                        values[i] = convert(value)
                params.append(tuple(values))  # what SQLAlchemy takes as positional rows
        else:
            params = [values_of(row) for row in rows]
        return insert_rows(conn, head, params, tail=tail)

    def _plan(self, keys: tuple[str, ...]) -> _Plan:
        columns = self._table.c
        unknown = [key for key in keys if key not in columns]
        if unknown:
            raise ValueError(f"{self._table.name} has no column {', '.join(unknown)}")
        converters = tuple(
            (i, convert)
            for i, key in enumerate(keys)
            if (convert := _converter(columns[key].type)) is not None
        )
        names = ", ".join(f'"{key}"' for key in keys)
        head = f'INSERT INTO "{self._table.name}" ({names})'
        tail = ""
        if self._on_conflict:
            tail = f" ON CONFLICT ({', '.join(self._on_conflict)}) DO NOTHING"
        getter = itemgetter(*keys)
        values_of = getter if len(keys) > 1 else lambda row: (getter(row),)
        return head, tail, values_of, converters
