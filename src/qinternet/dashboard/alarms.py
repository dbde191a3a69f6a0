"""The network's alarms as the dashboard lists them.

The dashboard raises no alarm of its own: it shows those of the operator's monitor
(:mod:`qinternet.network.alarms`: eavesdropping, outage, detector blinding, judged block by block from each
link's statistics), the same that ``qinternet run`` writes to ``summary.json`` and that ``serve``'s routing
obeys — live from the feeder's monitors, and for a run's outputs from ``summary.json``'s ``alarms`` by the
instant shown. :data:`QBER_ALARM` only sets the colour scale of the links' QBER on the map.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qinternet.postprocessing.pipeline import PipelineParams

__all__ = ["QBER_ALARM", "page_alarms"]

QBER_ALARM = PipelineParams().max_qber
"""The post-processing pipeline's abort threshold (near 11 % BB84 gives no key, Shor and Preskill, PRL 85, 441
(2000)): the red end of the map's QBER colours."""


def page_alarms(alarms: Iterable[Mapping[str, Any]], t: float | None = None) -> list[dict[str, Any]]:
    """The alarms (as ``summary.json`` has them: ``link``, ``detected_as``, ``raised_s``, ``cleared_s``,
    ``reason``) raised by ``t`` (all when None), newest first, as the page lists them; one cleared after ``t``
    is still active then."""
    shown: list[dict[str, Any]] = []
    for number, entry in enumerate(alarms, start=1):
        raised, cleared = entry.get("raised_s"), entry.get("cleared_s")
        if t is not None and isinstance(raised, int | float) and raised > t:
            continue
        active = not (isinstance(cleared, int | float) and (t is None or cleared <= t))
        shown.append(
            {
                "id": number,
                "link": str(entry.get("link", "")),
                "kind": str(entry.get("detected_as", "alarm")),
                "message": str(entry.get("reason", "")),
                "raised_s": raised,
                "cleared_s": None if active else cleared,
                "active": active,
            }
        )
    return shown[::-1]
