"""A scenario's entanglement: its memory nodes, memory links and requests, served by :mod:`.entanglement_net`.

:func:`run_entanglement` turns the validated scenario and its built links into the layer's models (a node's
hardware preset and qubits, each memory link compiled at its length) and serves the requests over the run.
"""

from __future__ import annotations

from qinternet.entanglement.chain import DeliveryMode
from qinternet.errors import ParameterError
from qinternet.network.entanglement_net import (
    EntanglementRun,
    MemoryLinkModel,
    QuantumNodeModel,
    RequestModel,
    run_requests,
)
from qinternet.network.links.memory import MemoryLinkSpec, memory_link_preset, preset_of
from qinternet.network.repeater import compile_link
from qinternet.network.schema import RequestSpec, RequestUse, Scenario
from qinternet.network.schema_base import MEMORY_NODES, ScenarioError

__all__ = ["memory_models", "request_model", "run_entanglement"]


def memory_models(scenario: Scenario) -> tuple[dict[str, QuantumNodeModel], list[MemoryLinkModel]]:
    """The memory nodes (by id) and compiled memory links of a scenario."""
    nodes = {}
    for i, node in enumerate(scenario.nodes):
        if node.kind in MEMORY_NODES and node.hardware is not None:
            preset = preset_of(node.hardware, f"nodes[{i}].hardware")
            qubits = node.qubits if node.qubits is not None else preset.node.memory_qubits
            nodes[node.id] = QuantumNodeModel(
                id=node.id,
                preset=preset,
                qubits=qubits,
                communication_qubits=min(
                    node.communication_qubits
                    if node.communication_qubits is not None
                    else preset.node.communication_qubits,
                    qubits,
                ),
            )
    models = []
    for i, spec in enumerate(scenario.links):
        if isinstance(spec, MemoryLinkSpec):
            path = f"links[{i}]"
            preset = memory_link_preset(spec, path, scenario)
            try:
                link = compile_link(preset, spec.length_km, field=f"{path}.length_km")
            except ParameterError as exc:
                raise ScenarioError([(exc.field, exc.reason)]) from None
            models.append(
                MemoryLinkModel(id=spec.id, a=spec.a, b=spec.b, length_km=spec.length_km, preset=preset, link=link)
            )
    return nodes, models


def request_model(spec: RequestSpec) -> RequestModel:
    """The layer's request of a scenario's ``requests[]`` entry."""
    return RequestModel(
        id=spec.id,
        a=spec.a,
        b=spec.b,
        pairs=spec.pairs,
        pairs_per_s=spec.pairs_per_s,
        min_fidelity=spec.min_fidelity,
        deadline_s=spec.deadline_s,
        mode=DeliveryMode.MEASURE_DIRECTLY if spec.use is RequestUse.MEASURE else DeliveryMode.CREATE_AND_KEEP,
        cutoff_s=spec.cutoff_s,
        priority=spec.priority,
    )


def run_entanglement(scenario: Scenario, duration_s: float) -> EntanglementRun | None:
    """Serve the scenario's requests over its memory links for ``duration_s``; None when it has no request."""
    if not scenario.requests:
        return None
    nodes, memory_links = memory_models(scenario)
    return run_requests(
        [request_model(r) for r in scenario.requests],
        memory_links,
        nodes,
        duration_s=duration_s,
        seed=scenario.seed,
        scheduler=scenario.entanglement.scheduler,
        slot_s=scenario.entanglement.slot_s,
    )
