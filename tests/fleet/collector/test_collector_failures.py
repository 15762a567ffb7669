"""Which database errors the collector waits out (an outage) and which it blames on the row (split, dead-letter),
classified from errors raised by real SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest

from edgekit.fleet.collector.failures import is_outage, one_line
from helpers_collector import PG_BASE


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no error")


def test_sqlite_errors():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    con.execute("INSERT INTO t VALUES (1)")
    assert is_outage(_raised(lambda: con.execute("SELECT * FROM missing")))        # a table missing
    assert not is_outage(_raised(lambda: con.execute("INSERT INTO t VALUES (1)")))  # a constraint
    assert not is_outage(_raised(lambda: con.execute("SELECT ?", (2 ** 70,))))      # a value too big
    closed = sqlite3.connect(":memory:")
    closed.close()
    assert is_outage(_raised(lambda: closed.execute("SELECT 1")))


def test_postgres_errors():
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=5) as con:
        assert is_outage(_raised(lambda: con.execute("SELECT * FROM edgekit_no_such_table")))
        assert not is_outage(_raised(lambda: con.execute("DO $$ BEGIN RAISE EXCEPTION 'refused'; END $$")))
        assert not is_outage(_raised(lambda: con.execute("SELECT %s::bigint", (2 ** 70,))))
        assert not is_outage(_raised(lambda: con.execute("SELECT %s", ("a\x00b",))))
        assert not is_outage(_raised(lambda: con.execute("SELECT %s::bigint[]", ([1, 2.0],))))
    assert is_outage(_raised(lambda: con.execute("SELECT 1")))  # closed
    assert is_outage(_raised(lambda: psycopg.connect("postgresql://postgres@127.0.0.1:1/x", connect_timeout=2)))


def test_one_line_is_one_printable_line():
    line = one_line(ValueError("first\x1b[2J line\nsecond line"))
    assert line == "ValueError: first?[2J line"
    assert len(one_line(ValueError("x" * 1000))) == 300
