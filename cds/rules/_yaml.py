"""YAML loading that remembers where every value came from (for ``path:line:col`` errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is much faster; fall back to pure Python where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class LoadedYaml:
    """A parsed YAML document and the position of each value, keyed by its path."""

    path: Path
    data: Any
    positions: dict[Loc, Position]
    text: str = ""
    ends: dict[Loc, Position] = field(default_factory=dict)  # where each value ends

    def position(self, loc: Loc) -> Position:
        """The position of ``loc``, or of its closest ancestor that has one."""
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), Position(1, 1))

    def find(self, loc: Loc, needle: str) -> Position:
        """Where ``needle`` is first written in the value at ``loc`` (a placeholder inside a
        multi-line ``detail:``), else the position of ``loc``."""
        start = self.position(loc)
        lines = self.text.splitlines()
        end_mark = self.ends.get(loc, Position(len(lines) + 1, 1))
        end = end_mark.line if end_mark.col > 1 else end_mark.line - 1  # a block ends at col 1
        for number in range(start.line, min(end, len(lines)) + 1):
            line = lines[number - 1]
            col = line.find(needle, start.col - 1 if number == start.line else 0)
            if col >= 0:
                return Position(number, col + 1)
        return start


class YamlSyntaxError(Exception):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def load_yaml(path: Path) -> LoadedYaml:
    """Parse one YAML file. Raises :class:`YamlSyntaxError` with a position on bad syntax."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlSyntaxError(
            "the file is not UTF-8 text: save it as UTF-8", Position(line, col)
        ) from exc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from exc
    built = _Built()
    data = built.value(node, ()) if node is not None else None
    return LoadedYaml(path, data, built.positions, text, built.ends)


# Constructs that open with a delimiter: when one is never closed, the parser notices only
# lines later (or at the end of the file), so the opening is what to point at.
_OPENED = ("while parsing a flow", "while scanning a quoted", "while scanning a block scalar")
_HINTS = {
    "did not find expected key": "check this line's indentation against the keys above it, "
    "and look for an unclosed quote on the lines before it",
    "found a tab character": "indent with spaces, not tabs",
    "found character '\\t'": "indent with spaces, not tabs",  # the pure-Python loader's words
    "mapping values are not allowed": "a value with ': ' in it needs quotes; or this key is "
    "indented under the value above it",
}


def _runaway_quote(text: str, before: yaml.Mark) -> yaml.Mark | None:
    """The start of a quoted value that spans lines just before ``before``: a value whose
    closing quote is missing runs on to the next quote in the file, and the parser stumbles
    only there."""
    last: yaml.ScalarToken | None = None
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if (token.start_mark.line, token.start_mark.column) >= (before.line, before.column):
                break
            if isinstance(token, yaml.ScalarToken):
                last = token
    except yaml.MarkedYAMLError:
        pass  # the scanner stops at the same problem
    if last is None or last.style not in ('"', "'"):
        return None
    runs_on = last.start_mark.line < last.end_mark.line == before.line  # ends where it broke
    return last.start_mark if runs_on else None


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> YamlSyntaxError:
    """A YAML syntax error at the line to fix, with the construct it broke and a hint.

    The parser reports two places: where the broken construct began (``context_mark``: for a
    block mapping, often the top of the file) and where it found the problem
    (``problem_mark``). The problem is usually on the line it names (a key indented one space
    too far, a tab); for an unclosed bracket or quote it is the opening that needs fixing."""
    problem, context = exc.problem or str(exc), exc.context or ""
    found, began = exc.problem_mark, exc.context_mark
    opened = context.startswith(_OPENED) and began is not None
    runaway = _runaway_quote(text, found) if found is not None and not opened else None
    hint = next((h for start, h in _HINTS.items() if problem.startswith(start)), None)
    if runaway is not None and found is not None:
        mark: yaml.Mark | None = runaway
        message = (
            f"{problem} at line {found.line + 1}, column {found.column + 1}: the quoted value "
            f"that starts here runs on to line {found.line + 1}; is its closing quote missing?"
        )
        hint = None
    elif opened and began is not None:
        mark = began
        what = context.removeprefix("while parsing ").removeprefix("while scanning ")
        message = f"{problem}: {what} opened here is not closed"
        if found is not None:
            message += f" (the parser noticed at line {found.line + 1}, column {found.column + 1})"
    else:
        mark = found or began
        message = problem
        if context and began is not None and began is not mark:
            message += f" ({context} that starts at line {began.line + 1})"
    position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
    return YamlSyntaxError(f"{message}: {hint}" if hint else message, position)


@dataclass
class _Built:
    """Python values from the composed YAML nodes, with where each one starts and ends.

    Merge keys and aliases are refused. An alias (``*name``) reuses the node of its anchor
    (``&name``): rule files are read by people, who should see every value where it applies,
    and a few nested aliases expand to billions of values (the "billion laughs"). A node met
    a second time is an alias, refused before anything is expanded."""

    positions: dict[Loc, Position] = field(default_factory=dict)
    ends: dict[Loc, Position] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def value(self, node: yaml.Node, loc: Loc) -> Any:
        if id(node) in self.seen:
            raise YamlSyntaxError(
                "anchors and aliases (&name, *name) are not supported: write the values out",
                _start(node),
            )
        self.seen.add(id(node))
        self.positions[loc] = _start(node)
        self.ends[loc] = Position(node.end_mark.line + 1, node.end_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*loc, i)) for i, item in enumerate(node.value)]
        return _scalar(node)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlSyntaxError(
                    "merge keys (<<) are not supported: write the fields out in full",
                    _start(key_node),
                )
            key = _scalar(key_node)
            if isinstance(key, bool):
                raise YamlSyntaxError(
                    f"the key {key_node.value!r} is read by YAML as {str(key).lower()}, not as a"
                    f" name: quote it ('{key_node.value}':) if you meant it",
                    _start(key_node),
                )
            if isinstance(key, str | int) and key in out:
                raise YamlSyntaxError(
                    f"duplicate key {key!r}: the later value would silently replace the"
                    " earlier one; keep one",
                    _start(key_node),
                )
            if isinstance(key, str | int):
                out[key] = self.value(value_node, (*loc, key))
                # errors about an entry point at its key, the start of the line
                self.positions[(*loc, key)] = _start(key_node)
            else:
                out[key] = self.value(value_node, loc)
        return out


_constructor = yaml.SafeLoader("")


def _start(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _scalar(node: yaml.Node) -> Any:
    """A scalar's Python value with the safe loader's implicit types (dates, numbers, bools).
    Raises :class:`YamlSyntaxError` for a tag the safe loader refuses (``!include``) and for a
    value of its type that cannot be (``2026-02-30``, ``!!int high``)."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return _constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise YamlSyntaxError(
                f"{exc.problem}: rule files use plain YAML values, no tags", _start(node)
            ) from exc
        except ValueError as exc:  # e.g. a date that does not exist
            raise YamlSyntaxError(
                f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}: {exc}"
                " (quote it if it is meant as text)",
                _start(node),
            ) from exc
    return None  # a mapping or list used as a key: refused by the schema later
