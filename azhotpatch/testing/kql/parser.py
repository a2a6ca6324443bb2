"""Phase 2: tokens to a `Query`. Recursive descent for the pipeline, Pratt (binding
powers) for expressions; every expression is compiled as it is parsed (see `expressions`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, cast

from azhotpatch.testing.kql.errors import EXPRESSION_HINT, OPERATORS_HINT, KqlError
from azhotpatch.testing.kql.execution import Query
from azhotpatch.testing.kql.expressions import (
    ARITHMETIC,
    STRING_TESTS,
    Expr,
    RowFn,
    arithmetic,
    column_expr,
    const,
    equality,
    logical,
    matches,
    member,
    membership,
    node,
    string_operator,
    underscored,
)
from azhotpatch.testing.kql.functions import AGGREGATIONS, FUNCTIONS, FUNCTIONS_HINT
from azhotpatch.testing.kql.lexer import Token, describe, tokenize
from azhotpatch.testing.kql.stages import (
    Count,
    Distinct,
    Extend,
    Order,
    Project,
    ProjectAway,
    Stage,
    Summarize,
    Take,
    Where,
)
from azhotpatch.testing.kql.values import negative

_MAX_DEPTH = 80
_BP_OR, _BP_AND, _BP_COMPARE, _BP_ADD, _BP_MULTIPLY, _BP_UNARY = 10, 20, 30, 40, 50, 60
_COMPARISONS = ("==", "!=", "=~", "!~", "<", "<=", ">", ">=")
_SET_OPERATORS = ("in", "!in", "in~", "!in~")
_STRING_OPERATORS = tuple(prefix + name for name in STRING_TESTS for prefix in ("", "!"))
_INFIX: dict[str, int] = {
    "or": _BP_OR,
    "and": _BP_AND,
    **dict.fromkeys(_COMPARISONS, _BP_COMPARE),
    **dict.fromkeys(_SET_OPERATORS, _BP_COMPARE),
    **dict.fromkeys(_STRING_OPERATORS, _BP_COMPARE),
    "matches": _BP_COMPARE,
    "+": _BP_ADD,
    "-": _BP_ADD,
    "*": _BP_MULTIPLY,
    "/": _BP_MULTIPLY,
}
# Real KQL operators outside the subset, named as such rather than as "unexpected" tokens.
_UNSUPPORTED_INFIX = frozenset(
    {
        "between",
        "has_any",
        "has_all",
        "hasprefix",
        "hasprefix_cs",
        "hassuffix",
        "hassuffix_cs",
        "notcontains",
        "notcontainscs",
        "notbetween",
    }
)
_UNSUPPORTED_OPERATORS = {
    "mv-expand": "arrays are not expanded into rows by the emulator; expand them in your code",
    "mv-apply": "arrays are not expanded into rows by the emulator; expand them in your code",
    "join": "the emulator runs single-table queries; query each table and join in your code",
    "union": "the emulator runs single-table queries; query each table separately",
    "lookup": "the emulator runs single-table queries; query each table and join in your code",
}
_UNSUPPORTED_STATEMENTS = frozenset(
    {"let", "union", "join", "print", "range", "datatable", "search", "find", "evaluate", "set"}
)


class Parser:
    """Recursive descent for the pipeline, Pratt (binding powers) for expressions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.columns: tuple[str, ...] | None = None
        self.temporal: frozenset[str] = frozenset()
        self.fresh = False

    # token helpers

    def peek(self, ahead: int = 0) -> Token:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        if token.kind == "error" and ahead == 0:
            raise cast("KqlError", token.value)
        return token

    def advance(self) -> Token:
        token = self.peek()
        if token.kind != "eof":
            self.index += 1
        return token

    def accept_op(self, op: str) -> bool:
        if self.peek().is_op(op):
            self.advance()
            return True
        return False

    def error(self, message: str, pos: int, hint: str | None = None) -> KqlError:
        return KqlError(message, pos, query=self.text, hint=hint)

    def unexpected(self, token: Token, expected: str, hint: str | None = None) -> KqlError:
        return self.error(f"expected {expected}, found {describe(token)}", token.pos, hint)

    def expect_op(self, op: str, expected: str) -> Token:
        token = self.peek()
        if not token.is_op(op):
            raise self.unexpected(token, expected)
        return self.advance()

    def close_paren(self, opened: Token, what: str) -> None:
        token = self.peek()
        if not token.is_op(")"):
            raise self.error(
                f"unbalanced parentheses: expected ')' to close the '(' of {what} (opened at "
                f"position {opened.pos}), found {describe(token)}",
                token.pos,
            )
        self.advance()

    def compile_regex(self, pattern: str, pos: int) -> re.Pattern[str]:
        try:
            return re.compile(pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as error:
            raise self.error(f"invalid regular expression {pattern!r}: {error}", pos) from None

    # query and operators

    def parse_query(self) -> Query:
        first = self.peek()
        if first.kind == "eof":
            raise self.error("empty query: expected a table name such as 'resources'", first.pos)
        if first.kind != "ident" or first.text.startswith("!"):
            raise self.unexpected(first, "a table name such as 'resources'")
        if first.text.lower() in _UNSUPPORTED_STATEMENTS:
            raise self.error(
                f"unsupported statement '{first.text}'",
                first.pos,
                hint="A query is one table name followed by '|' operators.",
            )
        self.advance()
        stages: list[Stage] = []
        while (token := self.peek()).kind != "eof":
            if token.is_op(")"):
                raise self.error("unbalanced parentheses: ')' has no matching '('", token.pos)
            if not token.is_op("|"):
                raise self.unexpected(token, "'|' or end of query")
            self.advance()
            stages.append(self.parse_operator())
        return Query(
            table=first.text.lower(),
            text=self.text,
            stages=tuple(stages),
            table_position=first.pos,
            known_columns=self.columns,
            temporal_columns=self.temporal,
            fresh_rows=self.fresh,
        )

    def operator_name(self) -> tuple[str, Token]:
        """Operator names such as ``project-away`` arrive as word, '-', word with no spaces."""
        first = self.peek()
        if first.kind != "ident" or first.text.startswith("!"):
            raise self.unexpected(first, "an operator after '|'", OPERATORS_HINT)
        self.advance()
        name, end = first.text, first.end
        while (dash := self.peek()).is_op("-") and dash.pos == end:
            word = self.peek(1)
            if word.kind != "ident" or word.pos != dash.end:
                break
            self.advance()
            self.advance()
            name, end = f"{name}-{word.text}", word.end
        return name, first

    def parse_operator(self) -> Stage:
        name, token = self.operator_name()
        parsers: dict[str, Callable[[Token], Stage]] = {
            "where": self.parse_where,
            "filter": self.parse_where,
            "project": self.parse_project,
            "project-away": self.parse_project_away,
            "extend": self.parse_extend,
            "order": self.parse_order,
            "sort": self.parse_order,
            "take": self.parse_take,
            "limit": self.parse_take,
            "count": self.parse_count,
            "summarize": self.parse_summarize,
            "distinct": self.parse_distinct,
        }
        parse_one = parsers.get(name.lower())
        if parse_one is None:
            reason = _UNSUPPORTED_OPERATORS.get(name.lower())
            detail = f" ({reason})" if reason else ""
            raise self.error(f"unsupported operator '{name}'{detail}", token.pos, OPERATORS_HINT)
        return parse_one(token)

    def parse_where(self, token: Token) -> Stage:
        return Where(self.parse_expr().fn)

    def parse_project(self, token: Token) -> Stage:
        items = self.named_items("project", unique=True)
        self.columns = tuple(name for name, _ in items)
        self.temporal = frozenset(name for name, expr in items if expr.temporal)
        self.fresh = True
        return Project(tuple((name, expr.fn) for name, expr in items))

    def parse_extend(self, token: Token) -> Stage:
        items = self.named_items("extend", unique=False, sequential=True)
        names = [name for name, _ in items]
        if self.columns is not None:
            self.columns = (
                *self.columns,
                *(n for n in dict.fromkeys(names) if n not in self.columns),
            )
        self.fresh = True
        return Extend(tuple((name, expr.fn) for name, expr in items))

    def parse_project_away(self, token: Token) -> Stage:
        names: list[str] = []
        while True:
            column = self.parse_expr()
            if column.path is None or column.path[1]:
                raise self.error(
                    "project-away takes column names, not paths or expressions", column.pos
                )
            names.append(column.path[0])
            if not self.accept_op(","):
                break
        if self.columns is not None:
            self.columns = tuple(name for name in self.columns if name not in names)
        self.temporal = self.temporal - set(names)
        self.fresh = True
        return ProjectAway(frozenset(names))

    def parse_order(self, token: Token) -> Stage:
        if not self.peek().is_word("by"):
            raise self.unexpected(self.peek(), f"'by' after '{token.text}'")
        self.advance()
        keys: list[tuple[RowFn, bool, bool]] = []
        while True:
            key = self.parse_expr()
            descending, nulls_last = True, True
            if self.peek().is_word("asc", "desc"):
                descending = self.advance().text.lower() == "desc"
            if self.peek().is_word("nulls"):
                self.advance()
                if not self.peek().is_word("first", "last"):
                    raise self.unexpected(self.peek(), "'first' or 'last' after 'nulls'")
                nulls_last = self.advance().text.lower() == "last"
            keys.append((key.fn, descending, nulls_last))
            if not self.accept_op(","):
                return Order(tuple(keys))

    def parse_take(self, token: Token) -> Stage:
        count = self.peek()
        if count.kind != "literal" or type(count.value) is not int:
            raise self.unexpected(count, f"a non-negative integer after '{token.text}'")
        self.advance()
        return Take(count.value)

    def parse_count(self, token: Token) -> Stage:
        self.columns, self.temporal, self.fresh = ("Count",), frozenset(), True
        return Count()

    def parse_summarize(self, token: Token) -> Stage:
        count_name = "count_"
        if self.peek().kind == "ident" and self.peek(1).is_op("="):
            count_name = self.advance().text
            self.advance()
        aggregation = self.peek()
        if not (aggregation.is_word("count") and self.peek(1).is_op("(")):
            described = describe(aggregation)
            if aggregation.kind == "ident" and self.peek(1).is_op("("):
                described = f"'{aggregation.text}()'"
            raise self.error(
                f"unsupported aggregation {described}",
                aggregation.pos,
                hint="summarize supports a single count(), optionally named and grouped: "
                "summarize count() by type, location.",
            )
        self.advance()
        opened = self.advance()
        self.close_paren(opened, "count()")
        if self.peek().is_op(","):
            raise self.error(
                "summarize supports a single count() aggregation", self.peek().pos, OPERATORS_HINT
            )
        by: list[tuple[str, Expr]] = []
        if self.peek().is_word("by"):
            self.advance()
            by = self.named_items("summarize by", unique=True, computed=underscored)
        if count_name in {name for name, _ in by}:
            raise self.error(f"duplicate column name '{count_name}' in summarize", aggregation.pos)
        self.columns = (*(name for name, _ in by), count_name)
        self.temporal = frozenset(name for name, expr in by if expr.temporal)
        self.fresh = True
        return Summarize(tuple((name, expr.fn) for name, expr in by), count_name)

    def parse_distinct(self, token: Token) -> Stage:
        items = self.named_items("distinct", unique=True)
        self.columns = tuple(name for name, _ in items)
        self.temporal = frozenset(name for name, expr in items if expr.temporal)
        self.fresh = True
        return Distinct(tuple((name, expr.fn) for name, expr in items))

    def named_items(
        self,
        operator_name: str,
        *,
        unique: bool,
        sequential: bool = False,
        computed: Callable[[Expr], str | None] | None = None,
    ) -> list[tuple[str, Expr]]:
        """``name = expr`` or a bare path, which takes its last key as the name.

        ``sequential`` items (extend) see the columns made by the items before them;
        ``computed`` names an unnamed computed item where the operator does (summarize by).
        """
        items: list[tuple[str, Expr]] = []
        seen: set[str] = set()
        while True:
            start = self.peek()
            name = self.assigned_name()
            expr = self.parse_expr()
            if name is None:
                name = expr.name
            if name is None and computed is not None:
                name = computed(expr)
            if name is None:
                raise self.error(
                    f"{operator_name} needs a name for a computed column: write name = <expr>",
                    expr.pos,
                )
            if unique and name in seen:
                raise self.error(
                    f"duplicate column name '{name}' in {operator_name}",
                    start.pos,
                    hint="Give one of them another name: other = <expr>.",
                )
            seen.add(name)
            items.append((name, expr))
            if sequential:
                temporal = self.temporal - {name}
                self.temporal = temporal | {name} if expr.temporal else temporal
            if not self.accept_op(","):
                return items

    def assigned_name(self) -> str | None:
        first = self.peek()
        if first.kind == "ident" and not first.text.startswith("!") and self.peek(1).is_op("="):
            self.advance()
            self.advance()
            return first.text
        bracketed = (
            first.is_op("[")
            and self.peek(1).kind == "literal"
            and type(self.peek(1).value) is str
            and self.peek(2).is_op("]")
            and self.peek(3).is_op("=")
        )
        if bracketed:
            name = cast("str", self.peek(1).value)
            for _ in range(4):
                self.advance()
            return name
        return None

    # expressions

    def check_depth(self, expr: Expr) -> Expr:
        if expr.depth > _MAX_DEPTH:
            raise self.error(
                f"expression nested too deeply (more than {_MAX_DEPTH} levels)", expr.pos
            )
        return expr

    def parse_expr(self, min_bp: int = 0) -> Expr:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise self.error(
                    f"expression nested too deeply (more than {_MAX_DEPTH} levels)",
                    self.peek().pos,
                )
            left = self.parse_unary()
            while True:
                token = self.peek()
                key = token.text if token.kind == "op" else token.text.lower()
                bp = _INFIX.get(key) if token.kind in ("op", "ident") else None
                if bp is None:
                    self.reject_unsupported_infix(token)
                    return left
                if bp <= min_bp:
                    return left
                self.advance()
                left = self.check_depth(self.parse_infix(key, token, left, bp))
        finally:
            self.depth -= 1

    def reject_unsupported_infix(self, token: Token) -> None:
        if token.kind != "ident":
            return
        word = token.text.lower()
        if word in _UNSUPPORTED_INFIX or word.startswith("!") or word == "not":
            raise self.error(
                f"unsupported operator '{token.text}'",
                token.pos,
                hint="Supported: == != =~ !~ < <= > >= in !in in~ !in~ "
                + " ".join(_STRING_OPERATORS)
                + " matches regex, and, or, + - * /.",
            )

    def parse_infix(self, key: str, token: Token, left: Expr, bp: int) -> Expr:
        if key in ("and", "or"):
            operands = [left, self.parse_expr(bp)]
            while self.peek().is_word(key):
                self.advance()
                operands.append(self.parse_expr(bp))
            return logical(key, operands)
        if key in _SET_OPERATORS:
            return membership(key, left, self.literal_list(token))
        if key == "matches":
            if not self.peek().is_word("regex"):
                raise self.unexpected(self.peek(), "'regex' after 'matches'")
            self.advance()
            pattern = self.parse_expr(bp)
            if not (pattern.is_const and type(pattern.value) is str):
                raise self.error("matches regex needs a string literal", pattern.pos)
            return matches(left, self.compile_regex(pattern.value, pattern.pos))
        right = self.parse_expr(bp)
        if key in ARITHMETIC:
            return arithmetic(key, left, right)
        if key in _COMPARISONS:
            return equality(key, left, right)
        return string_operator(key, left, right)

    def literal_list(self, operator_token: Token) -> list[Any]:
        opened = self.peek()
        if not opened.is_op("("):
            raise self.unexpected(
                opened, f"'(' and a list of literals after '{operator_token.text}'"
            )
        self.advance()
        values: list[Any] = []
        while not self.peek().is_op(")"):
            item = self.parse_expr()
            if not item.is_const:
                raise self.error(
                    f"'{operator_token.text}' takes a list of literals; this item is not a literal",
                    item.pos,
                )
            values.append(item.value)
            if not self.accept_op(","):
                break
        self.close_paren(opened, f"'{operator_token.text}'")
        return values

    def parse_unary(self) -> Expr:
        token = self.peek()
        if token.is_op("-"):
            self.advance()
            operand = self.parse_expr(_BP_UNARY)
            operand_fn = operand.fn
            return self.check_depth(
                node(
                    lambda row, env: negative(operand_fn(row, env)),
                    token.pos,
                    [operand],
                    temporal=operand.temporal,
                )
            )
        return self.parse_postfix(self.parse_primary())

    def parse_primary(self) -> Expr:
        token = self.advance()
        if token.kind == "literal":
            return const(token.value, token.pos)
        if token.is_op("("):
            inner = self.parse_expr()
            self.close_paren(token, "this group")
            return inner
        if token.is_op("["):
            name = self.advance()
            if name.kind != "literal" or type(name.value) is not str:
                raise self.unexpected(name, "a quoted column name after '['")
            self.expect_op("]", "']' after the quoted column name")
            return self.column(name.value, token.pos)
        if token.kind == "ident" and not token.text.startswith("!"):
            return self.parse_word(token)
        raise self.unexpected(token, "an expression", EXPRESSION_HINT)

    def parse_word(self, token: Token) -> Expr:
        word = token.text.lower()
        if self.peek().is_op("("):
            return self.parse_call(token)
        if word in ("true", "false"):
            return const(word == "true", token.pos)
        if word == "null":
            return const(None, token.pos)
        if word == "not":
            raise self.error("not needs parentheses: write not(<expr>)", token.pos)
        return self.column(token.text, token.pos)

    def column(self, name: str, pos: int) -> Expr:
        """A column an earlier extend filled with datetimes stays marked for rendering."""
        expr = column_expr(name, pos)
        return dataclasses.replace(expr, temporal=True) if name in self.temporal else expr

    def parse_postfix(self, expr: Expr) -> Expr:
        while True:
            token = self.peek()
            if token.is_op("."):
                self.advance()
                key = self.advance()
                if key.kind != "ident" or key.text.startswith("!"):
                    raise self.unexpected(key, "a property name after '.'")
                expr = member(expr, const(key.text, key.pos), token.pos)
            elif token.is_op("["):
                self.advance()
                index = self.parse_expr()
                self.expect_op("]", "']' to close '['")
                expr = member(expr, index, token.pos)
            else:
                return expr
            self.check_depth(expr)

    def parse_call(self, token: Token) -> Expr:
        name = token.text
        function = FUNCTIONS.get(name.lower())
        if function is None:
            where = (
                " (aggregations are only valid in summarize)"
                if name.lower() in AGGREGATIONS
                else ""
            )
            raise self.error(f"unknown function '{name}()'{where}", token.pos, FUNCTIONS_HINT)
        opened = self.advance()
        args: list[Expr] = []
        while not self.peek().is_op(")"):
            args.append(self.parse_expr())
            if not self.accept_op(","):
                break
        self.close_paren(opened, f"{name}()")
        low, high = function.min_args, function.max_args
        if not low <= len(args) <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            raise self.error(
                f"{name}() takes {expected} argument{'s' if high != 1 else ''}, got {len(args)}",
                token.pos,
            )
        return self.check_depth(function.build(self, args, token))


def parse(query: str) -> Query:
    """Parse and compile a query once; run the result with `Query.execute` as often as needed.

    Raises KqlError for anything outside `SUPPORTED_SUBSET`, and never anything else.
    """
    try:
        return Parser(query).parse_query()
    except RecursionError:
        raise KqlError("query nested too deeply to parse", None, query=query) from None
