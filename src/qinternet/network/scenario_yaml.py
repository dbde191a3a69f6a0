"""Scenario YAML to Python data, with the bounds that keep a small file from taking the machine.

PyYAML's safe loader builds what a file describes, and an alias (``*name``) shares the node its anchor
(``&name``) names instead of copying it. That is cheap for PyYAML, but whoever walks the result (pydantic,
reports) meets every alias as a full copy: nine levels of nine aliases make a file of a few hundred
bytes that reads as 387 million strings (the "billion laughs"). The reader here therefore counts, while it
composes, the nodes that aliases repeat and stops at :data:`MAX_ALIAS_NODES`; it refuses an alias inside
the node it names (a cycle), lists and mappings nested deeper than :data:`MAX_NESTING` (PyYAML composes
recursively: deep nesting ends in a ``RecursionError``, or a crash of the C composer), a key given twice in
one mapping (PyYAML keeps the last silently), and integers and timestamps that Python cannot build.

Speed: libyaml's C scanner and parser (PyYAML's ``CParser``) when PyYAML was built with it, else PyYAML's
pure-Python ones; composing (where the bounds are kept) and constructing are PyYAML's Python code in both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

__all__ = ["HAS_LIBYAML", "MAX_ALIAS_NODES", "MAX_NESTING", "MAX_NUMBER_CHARS", "ScenarioYamlError", "parse_yaml"]

MAX_NESTING = 32
"""Deepest nesting of YAML lists and mappings (a scenario needs 6 levels)."""
MAX_ALIAS_NODES = 100_000
"""Most YAML nodes that aliases may repeat in one file, each alias counting every node under its anchor."""
MAX_NUMBER_CHARS = 100
"""Longest integer literal (sexagesimal integers such as ``1:30:00`` cost time quadratic in their length)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


class ScenarioYamlError(ValueError):
    """A file that is not YAML, or is YAML beyond the bounds of a scenario.

    Attributes:
        where: ``"line L, column C"`` of the problem, or ``"(file)"``.
        reason: what is wrong, phrased to follow ``where``.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class _RefusedError(MarkedYAMLError):
    """Well-formed YAML that a scenario file may not hold (its ``problem`` is the whole reason)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting nesting and the nodes aliases repeat, and refusing duplicate keys."""

    # The parser's side of the loader, which the composer reads events from.
    check_event: Callable[..., bool]
    peek_event: Callable[[], Any]

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._nodes = 0  # nodes composed so far, an alias counting the nodes under its anchor
        self._repeated = 0  # of which aliases repeated
        self._sizes: dict[str, int] = {}  # nodes under each anchor whose node is complete

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)  # the anchor's node (PyYAML refuses an unknown one)
            size = self._sizes.get(event.anchor)
            if size is None:
                raise _RefusedError(f"alias *{event.anchor} is inside the node it names (a cycle)", event.start_mark)
            self._nodes += size
            self._repeated += size
            if self._repeated > MAX_ALIAS_NODES:
                raise _RefusedError(
                    f"aliases repeat more than {MAX_ALIAS_NODES:,} YAML nodes (the limit of a scenario file)",
                    event.start_mark,
                )
            return node
        event = self.peek_event()
        before = self._nodes
        self._nodes += 1
        if isinstance(event, SequenceStartEvent | MappingStartEvent):
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise _RefusedError(f"lists and mappings nest deeper than {MAX_NESTING} levels", event.start_mark)
            node = super().compose_node(parent, index)
            self._depth -= 1
        else:
            node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._sizes[event.anchor] = self._nodes - before
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        first_line: dict[tuple[str, str], int] = {}  # keys compared as written, with their resolved tag
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue  # a merge (``<<: *defaults``) may be overridden: that is what it is for
            line = first_line.get((key.tag, key.value))
            if line is not None:
                raise _RefusedError(
                    f"key {key.value!r} appears twice in this mapping (first at line {line})", key.start_mark
                )
            first_line[(key.tag, key.value)] = key.start_mark.line + 1
        return node


class _ScenarioConstructor(SafeConstructor):
    """PyYAML's safe constructor; integers and timestamps that Python cannot build are marked errors."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise _RefusedError(f"an integer written with more than {MAX_NUMBER_CHARS} characters", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_timestamp(self, node: ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise _RefusedError(f"{node.value!r} is not a date and time ({exc})", node.start_mark) from None

    yaml_constructors: ClassVar[dict[str | None, Any]] = {
        **SafeConstructor.yaml_constructors,
        "tag:yaml.org,2002:int": construct_yaml_int,
        "tag:yaml.org,2002:timestamp": construct_yaml_timestamp,
    }


class _PythonLoader(Reader, Scanner, Parser, _BoundedComposer, _ScenarioConstructor, Resolver):
    """The bounded loader on PyYAML's pure-Python scanner and parser."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        _ScenarioConstructor.__init__(self)
        Resolver.__init__(self)


HAS_LIBYAML: bool = yaml.__with_libyaml__
"""Whether PyYAML has libyaml's C scanner and parser (``pip install pyyaml`` wheels do)."""

_Loader: Callable[[str], Any] = _PythonLoader
if HAS_LIBYAML:
    from yaml._yaml import CParser

    class _CLoader(_BoundedComposer, CParser, _ScenarioConstructor, Resolver):
        """The bounded loader on libyaml's scanner and parser (the composer comes first: it replaces
        the C composer, whose recursion has no limit)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            _ScenarioConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _CLoader


def parse_yaml(text: str, *, pure_python: bool = False) -> object:
    """The data of one YAML document, within the bounds of a scenario file.

    Args:
        text: the YAML.
        pure_python: use PyYAML's Python scanner and parser even when libyaml is there (the reference
            the C path is tested and measured against).

    Raises:
        ScenarioYamlError: naming the line and column, and the reason.
    """
    loader: Any = _PythonLoader(text) if pure_python else _Loader(text)
    try:
        return loader.get_single_data()
    except _RefusedError as exc:
        raise ScenarioYamlError(_where(exc.problem_mark), str(exc.problem)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioYamlError(_where(mark), f"is not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def _where(mark: Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
