"""The small part of SOQL the Salesforce fake understands (tests/fakes/salesforce.py), parsed as
Salesforce parses it and refused as Salesforce refuses it.

From the SOQL and SOSL Reference (developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/
soql_sosl/): sforce_api_calls_soql_select.htm (SELECT fieldList FROM objectType [WHERE
conditionExpression] [ORDER BY …] [LIMIT n]), sforce_api_calls_soql_select_conditionexpression.htm
(AND and OR may not be mixed without parentheses; IN takes a parenthesised list),
sforce_api_calls_soql_select_quotedstringescapes.htm (\\' and \\\\ inside quoted strings) and
sforce_api_calls_soql_select_dateformats.htm (dateTime literals YYYY-MM-DDThh:mm:ss[.sss]Z or with
an offset, never quoted; booleans true/false, never quoted).

Supported: a field list of plain names, one object, conditions `field op literal` (op one of = !=
< <= > >=) and `field IN (literal, …)`, AND/OR with parentheses, ORDER BY plain fields with
ASC/DESC, LIMIT. Anything else (functions, relationships, subqueries, GROUP BY, OFFSET…) is a
MALFORMED_QUERY, as an unparseable query is in Salesforce.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<bad>\S)
)""",
    re.VERBOSE,
)
KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "IN",
    "NOT",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "LIMIT",
    "NULLS",
}


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Literal:
    kind: str  # string | datetime | number | boolean | null
    value: Any


@dataclass
class Condition:
    field: str
    op: str  # = != < <= > >= IN
    values: list[Literal]


@dataclass
class Group:
    joiner: str  # AND | OR
    parts: list[Condition | Group]


@dataclass
class Query:
    fields: list[str]
    object: str
    where: Condition | Group | None
    order: list[tuple[str, bool]]  # (field, descending)
    limit: int | None


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    for match in TOKEN.finditer(text):
        kind = match.lastgroup
        value = match.group(kind) if kind else ""
        if kind == "bad":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")
        if kind == "word" and value.upper() in KEYWORDS:
            out.append(("kw", value.upper()))
        elif kind:
            out.append((kind, value))
    return out


def parse_datetime(raw: str) -> datetime:
    raw = raw.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", raw):
        raw = raw[:-2] + ":" + raw[-2:]
    return datetime.fromisoformat(raw).astimezone(UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            shown = token[1] if token else "<EOF>"
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'")
        self.at += 1
        return token[1]

    def accept(self, kind: str, value: str | None = None) -> bool:
        token = self.peek()
        if token is not None and token[0] == kind and (value is None or token[1] == value):
            self.at += 1
            return True
        return False

    def query(self) -> Query:
        self.take("kw", "SELECT")
        fields = [self.take("word")]
        while self.accept("punct", ","):
            fields.append(self.take("word"))
        self.take("kw", "FROM")
        obj = self.take("word")
        where = None
        if self.accept("kw", "WHERE"):
            where = self.expression()
        order: list[tuple[str, bool]] = []
        if self.accept("kw", "ORDER"):
            self.take("kw", "BY")
            while True:
                field = self.take("word")
                descending = False
                if self.accept("kw", "DESC"):
                    descending = True
                else:
                    self.accept("kw", "ASC")
                order.append((field, descending))
                if not self.accept("punct", ","):
                    break
        limit = None
        if self.accept("kw", "LIMIT"):
            raw = self.take("number")
            if not raw.isdigit():
                raise SoqlError("MALFORMED_QUERY", "LIMIT must be a non-negative integer")
            limit = int(raw)
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")  # type: ignore[index]
        return Query(fields=fields, object=obj, where=where, order=order, limit=limit)

    def expression(self) -> Condition | Group:
        first = self.factor()
        parts = [first]
        joiner = None
        while True:
            token = self.peek()
            if token is None or token[0] != "kw" or token[1] not in ("AND", "OR"):
                break
            if joiner is not None and token[1] != joiner:
                # Salesforce: mixing AND and OR needs parentheses.
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token[1]}'")
            joiner = token[1]
            self.at += 1
            parts.append(self.factor())
        return first if joiner is None else Group(joiner=joiner, parts=parts)

    def factor(self) -> Condition | Group:
        if self.accept("punct", "("):
            inner = self.expression()
            self.take("punct", ")")
            return inner
        field = self.take("word")
        if self.accept("kw", "IN"):
            self.take("punct", "(")
            values = [self.literal()]
            while self.accept("punct", ","):
                values.append(self.literal())
            self.take("punct", ")")
            return Condition(field=field, op="IN", values=values)
        op = self.take("op")
        return Condition(field=field, op="!=" if op == "<>" else op, values=[self.literal()])

    def literal(self) -> Literal:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected token: '<EOF>'")
        kind, value = token
        self.at += 1
        if kind == "string":
            return Literal("string", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "datetime":
            return Literal("datetime", parse_datetime(value))
        if kind == "number":
            return Literal("number", float(value))
        if kind == "word" and value.lower() in ("true", "false"):
            return Literal("boolean", value.lower() == "true")
        if kind == "word" and value.lower() == "null":
            return Literal("null", None)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")


def parse(text: str) -> Query:
    return _Parser(text).query()


def conditions(node: Condition | Group | None) -> list[Condition]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    return [c for part in node.parts for c in conditions(part)]


def matches(node: Condition | Group | None, record: dict[str, Any]) -> bool:
    return predicate(node)(record)


def predicate(node: Condition | Group | None) -> Callable[[dict[str, Any]], bool]:
    """The WHERE clause as a test of one record, its literals folded once (a query tests every
    record of the object: a backfill's org holds a hundred thousand)."""
    if node is None:
        return lambda record: True
    if isinstance(node, Group):
        parts = [predicate(part) for part in node.parts]
        if node.joiner == "AND":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    name, op = node.field, node.op
    # SOQL compares strings without regard to case.
    wanted = [_folded(literal.value) for literal in node.values]
    if op == "IN":
        hashable = {value for value in wanted if not isinstance(value, (list, dict))}
        return lambda record: _folded(record.get(name)) in hashable
    other = wanted[0]
    if op == "=":
        return lambda record: bool(_folded(record.get(name)) == other)
    if op == "!=":
        return lambda record: bool(_folded(record.get(name)) != other)

    def compare(record: dict[str, Any]) -> bool:
        value = _folded(record.get(name))
        if value is None or other is None:
            return False
        return bool({"<": value < other, "<=": value <= other, ">": value > other, ">=": value >= other}[op])

    return compare


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value
