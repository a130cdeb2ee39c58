"""Append-only triggers for SQLite, shared by the migrations that must (re)install them.

Any migration that alters consent_consentevent or consent_noticeversion on SQLite rebuilds
the table and loses its triggers: end such a migration with install_sqlite for that table.
"""

from __future__ import annotations

from typing import Any

OPERATIONS = ("UPDATE", "DELETE")


def sqlite_statements(table: str) -> tuple[list[str], list[str]]:
    create = [
        f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
            BEGIN SELECT RAISE(ABORT, 'candor: {table} is append-only ({op} refused)'); END;"""
        for op in OPERATIONS
    ]
    drop = [f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()};" for op in OPERATIONS]
    return create, drop


def install_sqlite(schema_editor: Any, table: str) -> None:
    create, drop = sqlite_statements(table)
    for statement in [*drop, *create]:
        schema_editor.execute(statement)
