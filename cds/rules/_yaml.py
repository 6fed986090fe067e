"""YAML loading that remembers where every value came from (for ``path:line:col`` errors)."""

from __future__ import annotations

from dataclasses import dataclass
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

    def position(self, loc: Loc) -> Position:
        """The position of ``loc``, or of its closest ancestor that has one."""
        while loc:
            if loc in self.positions:
                return self.positions[loc]
            loc = loc[:-1]
        return self.positions.get((), Position(1, 1))


class YamlSyntaxError(Exception):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def load_yaml(path: Path) -> LoadedYaml:
    """Parse one YAML file. Raises :class:`YamlSyntaxError` with a position on bad syntax."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark  # where the broken construct began
        pos = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        raise YamlSyntaxError(str(exc.problem or exc), pos) from exc
    positions: dict[Loc, Position] = {}
    data = _construct(node, (), positions) if node is not None else None
    return LoadedYaml(path, data, positions)


def _construct(node: yaml.Node, loc: Loc, positions: dict[Loc, Position]) -> Any:
    positions[loc] = Position(node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if isinstance(key, str | int):
                out[key] = _construct(value_node, (*loc, key), positions)
                # errors about an entry point at its key, the start of the line
                positions[(*loc, key)] = Position(
                    key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
            else:
                out[key] = _construct(value_node, loc, positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, i), positions) for i, item in enumerate(node.value)]
    return _scalar(node)


_constructor = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    """A scalar's Python value with the safe loader's implicit types (dates, numbers, bools)."""
    if isinstance(node, yaml.ScalarNode):
        return _constructor.construct_object(node, deep=True)
    return None  # a mapping or list used as a key: refused by the schema later
