"""docs/scenarios.md: its example is a valid scenario, and it names every field of the schema."""

from __future__ import annotations

import re
from pathlib import Path

from qinternet.network.links.registry import LINK_KINDS
from qinternet.network.scenario_yaml import MAX_ALIAS_NODES, MAX_NESTING, MAX_NUMBER_CHARS
from qinternet.network.schema import (
    MAX_FILE_BYTES,
    MAX_TEXT_CHARS,
    ApplicationSpec,
    AttackSpec,
    DemandSpec,
    EntanglementSpec,
    NodeSpec,
    RequestSpec,
    TimeSpec,
    load_scenario,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_example_loads() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None
    spec = load_scenario(example.group(1))
    assert [link.id for link in spec.links] == ["l1", "l2"]


def test_every_field_is_documented() -> None:
    text = DOC.read_text()
    models = (
        NodeSpec,
        *(entry.spec for entry in LINK_KINDS),
        DemandSpec,
        TimeSpec,
        RequestSpec,
        EntanglementSpec,
        ApplicationSpec,
    )
    for model in (*models, AttackSpec):
        for name in model.model_fields:
            assert f"`{name}`" in text or f"`{name}:" in text or f"{name}`" in text, (model.__name__, name)


def test_the_limits_are_documented_as_they_are() -> None:
    limits = DOC.read_text().split("## Limits")[1].split("\n## ")[0]
    assert f"| {MAX_FILE_BYTES / 1e6:g} MB " in limits
    assert f"| {MAX_TEXT_CHARS:,} characters " in limits
    assert f"repeat {MAX_ALIAS_NODES:,} YAML nodes" in limits
    assert f"| {MAX_NESTING} levels " in limits
    assert f"| {MAX_NUMBER_CHARS} characters |" in limits
