"""A griffe extension that turns the reST markup of qinternet's docstrings into Markdown for mkdocstrings.

The docstrings are Google style with reST inline markup: Sphinx roles (``:func:`~qinternet.qkd.keyrate.key_rate```,
``:mod:`.chain```) and literal blocks introduced by ``::``. Markdown shows neither, so before rendering:

* a role becomes its target in code, linked when the target is an object of the loaded package
  (``<autoref optional>``: mkdocs-autorefs links it if the site renders that object, and leaves plain code if
  not, without a warning). ``~`` shows the last component only, as in Sphinx; a leading dot is relative to
  the docstring's package; a bare name is looked up in the docstring's module, then its class.
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is a Markdown code block already);
* an argument entry naming several parameters (``eta_a, eta_b: transmittance of each arm``), which Google style
  has no form for, becomes one entry per parameter with the same description;
* a doctest (``>>>`` lines and their output, up to a blank line) becomes a fenced ``pycon`` block, which
  Markdown would otherwise read as nested quotes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|mod|class|data|attr|meth|obj|exc|const):`(?P<target>[^`]+)`")
_LITERAL_INTRO = re.compile(r"(?<=\S)::$", re.M)
_ARGS_SECTION = re.compile(r"^(?P<indent>[ ]*)(?:Args|Arguments|Parameters):$")
_GROUPED_ARG = re.compile(r"^(?P<indent>[ ]+)(?P<names>\w+(?:, \w+)+):(?P<rest>.*)$")
_DOCTEST = re.compile(r"^(?P<indent>[ ]*)>>> .*(?:\n(?P=indent)\S.*)*", re.M)


def plain(text: str) -> str:
    """``text`` with each role shown as its target in code, unlinked (for summaries outside mkdocstrings)."""
    return _ROLE.sub(lambda match: f"`{_shown(match['target'].strip())}`", text)


def _shown(target: str) -> str:
    """What a role shows of its target: the last component after ``~``, else the target without leading dots."""
    return target.lstrip("~").rsplit(".", 1)[-1] if target.startswith("~") else target.lstrip(".")


def _candidates(target: str, obj: griffe.Object) -> list[str]:
    """Full paths that a role's target may name, most specific first."""
    if target.startswith("."):
        dots = len(target) - len(target.lstrip("."))
        module = obj.module
        package = module if module.is_package else module.parent
        for _ in range(dots - 1):
            package = package.parent if package is not None and package.parent is not None else package
        base = package.path if package is not None else module.path
        return [f"{base}.{target.lstrip('.')}"]
    scopes = [obj.module.path]
    if isinstance(obj, griffe.Function | griffe.Attribute) and obj.parent is not None and obj.parent.is_class:
        scopes.insert(0, obj.parent.path)
    if obj.is_class:
        scopes.insert(0, obj.path)
    return [target, *(f"{scope}.{target}" for scope in scopes)]


def _resolve(target: str, obj: griffe.Object, modules: griffe.ModulesCollection) -> str | None:
    for path in _candidates(target, obj):
        try:
            modules.get_member(path)
        except (KeyError, ValueError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        return path
    return None


def _split_grouped_args(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (header := _ARGS_SECTION.match(line)) is not None:
            section_indent = len(header["indent"])
        elif line.strip() and section_indent is not None and len(line) - len(line.lstrip()) <= section_indent:
            section_indent = None
        grouped = _GROUPED_ARG.match(line) if section_indent is not None else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        indent = grouped["indent"]
        end = i + 1
        while end < len(lines) and lines[end].startswith(indent + " "):
            end += 1
        for name in grouped["names"].split(", "):
            out.append(f"{indent}{name}:{grouped['rest']}")
            out.extend(lines[i + 1 : end])
        i = end
    return "\n".join(out)


def _markdown(text: str, obj: griffe.Object, modules: griffe.ModulesCollection) -> str:
    def role(match: re.Match[str]) -> str:
        target = match["target"].strip()
        shown = _shown(target)
        path = _resolve(target.lstrip("~"), obj, modules)
        if path is None:
            return f"`{shown}`"
        return f'<autoref identifier="{path}" optional><code>{shown}</code></autoref>'

    def doctest(match: re.Match[str]) -> str:
        indent = match["indent"]
        return f"{indent}```pycon\n{match[0]}\n{indent}```"

    text = _split_grouped_args(_ROLE.sub(role, text))
    return _DOCTEST.sub(doctest, _LITERAL_INTRO.sub(":", text))


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of a loaded package once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj.docstring.value, obj, loader.modules_collection)
            stack.extend(member for member in obj.members.values() if not member.is_alias)
