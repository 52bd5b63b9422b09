"""`neurostock sql`: one reading statement on a sealed, read-only connection.

Two guards, both DuckDB's own, so that nothing a user types can write a file or a
database:
- the statement: DuckDB's parser (`duckdb.extract_statements`) must find exactly one
  statement, of type SELECT (which covers FROM-first queries, WITH, VALUES, SHOW,
  DESCRIBE, SUMMARIZE and the pragmas that only read: `pragma table_info(t)`,
  `pragma show_tables`, `pragma database_size`, which the parser turns into selects),
  or an EXPLAIN (ANALYZE) of such a select. Everything else (COPY, EXPORT, ATTACH,
  DETACH, INSTALL, LOAD, SET, RESET, USE, other PRAGMAs, CREATE, INSERT, UPDATE,
  DELETE, DROP, ALTER, CALL, CHECKPOINT, VACUUM, transactions) is refused in one line
  naming it, before the warehouse is opened.
- the connection: opened read-only, vss loaded, then `enable_external_access = false`
  (no file or database other than the warehouse is read or written, no extension is
  installed or loaded, no other database attached) and `lock_configuration = true`, so
  a query cannot set any of it back.

So `select * from read_csv('/etc/passwd')` is refused too: `sql` reads the warehouse
and nothing else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from neurostock.core.errors import NeurostockError
from neurostock.core.warehouse import connect

ALLOWED = ("a single select (SELECT, FROM, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE, a "
           "reading PRAGMA such as table_info, or EXPLAIN of a select)")

# Applied in this order once the extensions are loaded; the last one freezes the rest.
_SEAL = (
    "set autoinstall_known_extensions = false",
    "set autoload_known_extensions = false",
    "set allow_community_extensions = false",
    "set enable_external_access = false",
    "set lock_configuration = true",
)

_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_EXPLAIN = re.compile(r"\Aexplain\s+(?:analy[sz]e\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\A[A-Za-z_]+")
# Statement types whose first word says more than the type's name (INSTALL is a LOAD,
# RESET and USE are SETs, CHECKPOINT is a CALL, BEGIN a TRANSACTION, ANALYZE a VACUUM).
_NAMED_BY_FIRST_WORD = {"LOAD", "SET", "CALL", "TRANSACTION", "VACUUM", "PRAGMA",
                        "COPY_DATABASE", "VARIABLE_SET", "EXTENSION"}


def _body(text: str) -> str:
    """`text` without the comments and white space before its first word."""
    return _LEADING_COMMENTS.sub("", text, count=1)


def _label(statement) -> str:
    """What a refused statement is, in the words the user typed where they say more."""
    kind = statement.type.name
    word = _FIRST_WORD.match(_body(statement.query))
    if kind in _NAMED_BY_FIRST_WORD and word:
        return word.group(0).upper()
    return {"MERGE_INTO": "MERGE", "CREATE_FUNC": "CREATE FUNCTION"}.get(kind, kind)


def _is_select(statement) -> bool:
    if statement.type == duckdb.StatementType.SELECT:
        return True
    if statement.type != duckdb.StatementType.EXPLAIN:
        return False
    # EXPLAIN ANALYZE runs its statement: only a select may follow.
    body = _body(statement.query)
    prefix = _EXPLAIN.match(body)
    if prefix is None:
        return False
    try:
        inner = duckdb.extract_statements(body[prefix.end():])
    except duckdb.Error:
        return False
    return len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT


def check_query(query: str) -> str:
    """The one reading statement of `query`; NeurostockError naming anything else."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise NeurostockError(f"sql: {_first_line(exc)}") from exc
    if not statements:
        raise NeurostockError("sql: no statement given")
    if any(s.type == duckdb.StatementType.COPY_DATABASE for s in statements):
        # The parser expands it into a transaction of several statements.
        raise NeurostockError(f"sql is read-only: refused COPY FROM DATABASE; it runs {ALLOWED}")
    for number, statement in enumerate(statements, start=1):
        if not _is_select(statement):
            label = _label(statement)
            where = f" (statement {number} of {len(statements)})" if len(statements) > 1 else ""
            what = (f"EXPLAIN of a statement that is not a select{where}"
                    if statement.type == duckdb.StatementType.EXPLAIN else f"{label}{where}")
            raise NeurostockError(f"sql is read-only: refused {what}; it runs {ALLOWED}")
    if len(statements) > 1:
        raise NeurostockError(
            f"sql runs one statement per call: refused {len(statements)} statements "
            f"({'; '.join(_label(s) for s in statements)})")
    return query


@contextmanager
def sealed_connection(warehouse: str | os.PathLike | None) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """A read-only connection to the warehouse that can read nothing else and change no
    setting: vss loaded, external access off, configuration locked."""
    with connect(warehouse, read_only=True) as con:
        con.execute("load vss")
        for setting in _SEAL:
            con.execute(setting)
        yield con


def run_query(warehouse: str | os.PathLike | None, query: str, max_rows: int = 40) -> None:
    """`neurostock sql QUERY`: check it, run it on a sealed connection, print the table."""
    checked = check_query(query)
    with sealed_connection(warehouse) as con:
        try:
            relation = con.sql(checked)
            if relation is not None:
                relation.show(max_rows=max_rows, max_width=200)
        except duckdb.PermissionException as exc:
            raise NeurostockError(
                f"sql reads only the warehouse (no other file, database or extension): "
                f"{_first_line(exc)}") from exc
        except duckdb.Error as exc:
            raise NeurostockError(f"sql: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
