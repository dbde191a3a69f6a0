"""docs/scenarios.md: its example is a valid scenario, and it names every field of the schema."""

from __future__ import annotations

import re
from pathlib import Path

from qinternet.network.schema import DemandSpec, LinkSpec, NodeSpec, TimeSpec, load_scenario

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_example_loads() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None
    spec = load_scenario(example.group(1))
    assert [link.id for link in spec.links] == ["l1", "l2"]


def test_every_field_is_documented() -> None:
    text = DOC.read_text()
    for model in (NodeSpec, LinkSpec, DemandSpec, TimeSpec):
        for name in model.model_fields:
            assert f"`{name}`" in text or f"`{name}:" in text or f"{name}`" in text, (model.__name__, name)
