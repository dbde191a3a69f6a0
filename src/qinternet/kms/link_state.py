"""Link state between KME processes: each KME tells the others how much key its own links hold, so that a
master routes (and counts ``Status``) by the levels of every hop, not only its own.

With one KME per process (``qinternet kme``) a KME's store holds only its own links' keys. Without this
exchange a master sees the other links as full (:data:`~.relay.UNKNOWN_LEVEL_BYTES`): routing cannot avoid a
remote hop that is empty (the relay is voided there, 503) and ``Status`` counts the first hop only.

**The message** (``POST /kme/v1/link_state``, over the KMEs' mutual-TLS channel, :func:`add_route`):
``{"KME_ID": origin, "sequence": n, "links": [{"to_KME_ID": peer, "send_bytes": b}, ...]}``: for each
neighbour of the origin, the bytes of link key the origin may send to it (one direction of the link; the
neighbour reports the other). It follows a link-state routing protocol's advertisement (OSPF, RFC 2328):

- **Only the origin speaks for its links** (an OSPF router originates only its own router-LSA, RFC 2328
  section 12.4.1). The callee names the caller by its verified certificate; a report whose ``KME_ID`` is not the
  caller, or that names a KME the caller shares no link with, is refused (401) and logged
  (:func:`check_report`). Reports are sent straight to every KME that may be a master (one with an SAE,
  :func:`recipients`), never passed on, so no KME ever carries another's report and no signature is needed.
- **Newer wins** (RFC 2328 section 13.1: the instance with the larger sequence number is the more recent): a
  report whose ``sequence`` is not larger than the last one accepted from its origin (late, reordered or
  replayed) is ignored (answered ``stale``), never stored. The sequence is the origin's wall clock in
  microseconds, kept strictly increasing (:func:`next_sequence`), so a restarted KME's reports are newer
  than its earlier ones without any state kept across the restart.
- **Refresh and age** (RFC 2328's LSRefreshTime and MaxAge, appendix B, scaled to key pools that change by the
  second): a KME reports every :data:`REPORT_EVERY_S` even if nothing changed, and at once (checked every
  :data:`CHECK_EVERY_S`, so at most one report a second, as OSPF's MinLSInterval/MinLSArrival pace
  LSAs) when a level changed significantly (:func:`significant_change`). The receiver ages a report by its own
  clock from its arrival; one older than :data:`MAX_AGE_S` (three refreshes: two may be lost) counts as
  unknown, which is what every remote level was before this exchange.

**Levels are advisory.** Routing picks a path by them (:meth:`LinkStateTable.level`); the relay still takes
each hop's keys at that hop's KME when it commits its step (:mod:`.relay`). A stale or wrong level can
therefore only send a key along a path that is short somewhere (the relay is voided, the SAE gets 503 and
asks again) or around a path that had key: it never loses or duplicates a key.

**Direction.** Routing (:mod:`qinternet.network.routing`) has one level per link, as the one-store KME's
pools have; a KME process's link has two directions, and which one a key takes depends on the path. A
remote link's level is the smaller of its two directions' known levels, so a master never routes over a
direction known to be empty; the cost is that a link drained in one direction is avoided in the other too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import FastAPI, Request
from pydantic import Field

from qinternet.errors import QinternetError
from qinternet.kms.api import MSG_BAD, MSG_UNAUTHORIZED, SAE_SCOPE_KEY, KmeError, _Body, _json
from qinternet.kms.relay import PEER_PATH, UNKNOWN_LEVEL_BYTES, PeerAnswer, PeerUnreachableError
from qinternet.kms.topology import KmsTopology

__all__ = [
    "CALL",
    "CHECK_EVERY_S",
    "MAX_AGE_S",
    "REPORT_EVERY_S",
    "SIGNIFICANT_FRACTION",
    "LinkStateRefusedError",
    "LinkStateReport",
    "LinkStateReporter",
    "LinkStateTable",
    "add_route",
    "check_report",
    "next_sequence",
    "recipients",
    "report_of",
    "significant_change",
]

logger = logging.getLogger("qinternet.kms")

CALL = "link_state"
"""The KME-to-KME call (``POST /kme/v1/link_state``)."""
REPORT_EVERY_S = 10.0
"""Seconds between two reports of unchanged levels (the refresh)."""
CHECK_EVERY_S = 1.0
"""Seconds between two looks at the own levels; also the shortest time between two reports."""
MAX_AGE_S = 3 * REPORT_EVERY_S
"""Age (receiver's clock, from arrival) after which a report counts as unknown: two refreshes may be lost."""
SIGNIFICANT_FRACTION = 0.1
"""A level that moved by at least this fraction of the larger of its old and new value is reported at once."""
POST_TIMEOUT_S = 2.0
"""Longest one report may take to be answered (a lost one is sent again at the next refresh)."""
MAX_LINKS = 1024
"""Most links in one report."""
_MAX_SEQUENCE = (1 << 63) - 1
_MAX_BYTES = 1 << 62


class _LinkLevel(_Body):
    to_KME_ID: Annotated[str, Field(min_length=1, max_length=256)]
    send_bytes: Annotated[int, Field(ge=0, le=_MAX_BYTES)]


class LinkStateReport(_Body):
    """A KME's report of its own links (module docstring)."""

    KME_ID: Annotated[str, Field(min_length=1, max_length=256)]
    sequence: Annotated[int, Field(ge=1, le=_MAX_SEQUENCE)]
    links: Annotated[list[_LinkLevel], Field(max_length=MAX_LINKS)]


class LinkStateRefusedError(QinternetError):
    """A report refused: ``status`` 401 (not the caller's to make) or 400 (malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# -- pure functions -------------------------------------------------------------------------------------


def next_sequence(last: int, now_s: float) -> int:
    """The sequence number of the next report: the wall clock ``now_s`` in microseconds, or ``last + 1`` if
    that is not larger (a clock stepped back within a run)."""
    return max(last + 1, int(now_s * 1_000_000))


def report_of(kme_id: str, levels: Mapping[str, int], sequence: int) -> dict[str, Any]:
    """The message body reporting ``levels`` (neighbour KME -> bytes ``kme_id`` may send to it)."""
    links = [{"to_KME_ID": peer, "send_bytes": int(levels[peer])} for peer in sorted(levels)]
    return {"KME_ID": kme_id, "sequence": sequence, "links": links}


def significant_change(reported: Mapping[str, int] | None, levels: Mapping[str, int]) -> bool:
    """Whether ``levels`` must be reported before the next refresh: nothing reported yet, other neighbours, a
    level that became or stopped being 0, or one that moved by :data:`SIGNIFICANT_FRACTION` or more."""
    if reported is None or reported.keys() != levels.keys():
        return True
    for peer, now in levels.items():
        was = reported[peer]
        if was != now and (0 in (was, now) or abs(now - was) >= SIGNIFICANT_FRACTION * max(was, now)):
            return True
    return False


def check_report(topology: KmsTopology, caller: str, report: LinkStateReport) -> dict[str, int]:
    """The levels of a report from ``caller`` (named by its certificate), ``{neighbour: bytes}``.

    Raises:
        LinkStateRefusedError: 401 if the report speaks for another KME or for a link that is not the
            caller's; 400 if it names a neighbour twice.
    """
    if caller != report.KME_ID:
        raise LinkStateRefusedError(401, f"a report of {report.KME_ID[:100]!r} sent by {caller}")
    mine = topology.neighbours(caller)
    levels: dict[str, int] = {}
    for link in report.links:
        if link.to_KME_ID not in mine:
            raise LinkStateRefusedError(401, f"{caller} has no link to {link.to_KME_ID[:100]!r}")
        if link.to_KME_ID in levels:
            raise LinkStateRefusedError(400, f"link to {link.to_KME_ID} reported twice")
        levels[link.to_KME_ID] = link.send_bytes
    return levels


def recipients(topology: KmsTopology, kme_id: str) -> list[str]:
    """The KMEs ``kme_id`` reports to: every other KME that may be a master (one with an SAE)."""
    return sorted(set(topology.sae_kme.values()) - {kme_id})


# -- what a KME knows of the others' links -----------------------------------------------------------------


@dataclass(slots=True)
class _Known:
    sequence: int
    received_at: float
    levels: dict[str, int]


@dataclass(slots=True)
class LinkStateTable:
    """The latest accepted report of every other KME.

    Args:
        kme_id: this KME.
        topology: the network.
        max_age_s: age after which a report counts as unknown.
        clock: this KME's clock (seconds, monotonic).
    """

    kme_id: str
    topology: KmsTopology
    max_age_s: float = MAX_AGE_S
    clock: Callable[[], float] = time.monotonic
    _known: dict[str, _Known] = field(default_factory=dict)

    def accept(self, caller: str, report: LinkStateReport) -> str:
        """Keep ``report`` from ``caller`` if it is newer than the last one kept: ``accepted`` or ``stale``.

        Raises:
            LinkStateRefusedError: as :func:`check_report`.
        """
        levels = check_report(self.topology, caller, report)
        known = self._known.get(caller)
        if known is not None and report.sequence <= known.sequence:
            logger.info(
                "kme=%s ignored a stale link state of %s (sequence %d <= %d)",
                self.kme_id,
                caller,
                report.sequence,
                known.sequence,
            )
            return "stale"
        self._known[caller] = _Known(report.sequence, self.clock(), levels)
        return "accepted"

    def send_bytes(self, sender: str, receiver: str) -> int | None:
        """Bytes ``sender`` last reported it may send to ``receiver``; None if unknown or too old."""
        known = self._known.get(sender)
        if known is None or self.clock() - known.received_at > self.max_age_s:
            return None
        return known.levels.get(receiver)

    def reported(self) -> list[dict[str, Any]]:
        """Every level known now, for the status page: ``kme`` may send ``send_bits`` to ``peer``, reported
        ``age_s`` ago (reports older than ``max_age_s`` left out, as routing leaves them)."""
        now = self.clock()
        return [
            {"kme": sender, "peer": peer, "send_bits": 8 * nbytes, "age_s": round(now - known.received_at, 1)}
            for sender, known in sorted(self._known.items())
            if now - known.received_at <= self.max_age_s
            for peer, nbytes in sorted(known.levels.items())
        ]

    def level(self, kme_a: str, kme_b: str) -> int:
        """The level routing uses for a link between two other KMEs: the smaller of its two directions' known
        levels (module docstring); :data:`~.relay.UNKNOWN_LEVEL_BYTES` if neither is known."""
        known = [n for n in (self.send_bytes(kme_a, kme_b), self.send_bytes(kme_b, kme_a)) if n is not None]
        return min(known, default=UNKNOWN_LEVEL_BYTES)


# -- telling the others ---------------------------------------------------------------------------------


class _Poster(Protocol):
    async def post(self, peer: str, call: str, body: Mapping[str, Any], timeout_s: float) -> PeerAnswer: ...


@dataclass(slots=True)
class LinkStateReporter:
    """Sends this KME's link levels to :func:`recipients` (module docstring).

    Args:
        kme_id: this KME.
        neighbours: the KMEs it shares a link with.
        level: bytes this KME may send to a neighbour now.
        client: how it calls its peers (:class:`~.relay.PeerClient`).
        to: the KMEs it reports to.
        clock: monotonic seconds (when a refresh is due).
    """

    kme_id: str
    neighbours: Sequence[str]
    level: Callable[[str], int]
    client: _Poster
    to: Sequence[str]
    clock: Callable[[], float] = time.monotonic
    _sequence: int = 0
    _reported: dict[str, int] | None = None
    _reported_at: float = -math.inf

    async def tick(self) -> bool:
        """Report the levels if a refresh is due or they changed significantly; whether it reported."""
        levels = {peer: self.level(peer) for peer in self.neighbours}
        now = self.clock()
        if now - self._reported_at < REPORT_EVERY_S and not significant_change(self._reported, levels):
            return False
        self._sequence = next_sequence(self._sequence, time.time())
        body = report_of(self.kme_id, levels, self._sequence)
        self._reported, self._reported_at = levels, now
        await asyncio.gather(*(self._post(peer, body) for peer in self.to))
        return True

    async def _post(self, peer: str, body: Mapping[str, Any]) -> None:
        try:
            answer = await self.client.post(peer, CALL, body, POST_TIMEOUT_S)
        except PeerUnreachableError as exc:  # the next refresh sends it again
            logger.debug("kme=%s link state to %s: %s", self.kme_id, peer, exc)
            return
        if answer.status_code != 200:
            shown = answer.text[:200]
            logger.warning("kme=%s link state refused by %s (%d): %s", self.kme_id, peer, answer.status_code, shown)

    async def run(self) -> None:
        """Report every :data:`CHECK_EVERY_S` when due (:meth:`tick`), until cancelled."""
        while True:
            await self.tick()
            await asyncio.sleep(CHECK_EVERY_S)


def add_route(app: FastAPI, kme_id: str, topology: KmsTopology, table: LinkStateTable) -> None:
    """``POST /kme/v1/link_state`` on a KME's app: reports of peer KMEs (named by their certificates) into
    ``table``; any other caller, and any report not the caller's own, is refused (401, logged)."""

    @app.post(f"{PEER_PATH}/{CALL}")
    async def link_state(request: Request) -> dict[str, Any]:
        """A peer KME's link levels."""
        name = request.scope.get(SAE_SCOPE_KEY)
        if not isinstance(name, str) or name not in topology.kmes or name == kme_id:
            shown = repr(name[:100]) if isinstance(name, str) else "a client without a certificate name"
            logger.warning("kme=%s refused a link state (401): %s is not a peer KME", kme_id, shown)
            raise KmeError(401, MSG_UNAUTHORIZED, [{"KME_ID": "not a KME of this network"}])
        report: LinkStateReport = await _json(request, LinkStateReport)
        try:
            return {"outcome": table.accept(name, report)}
        except LinkStateRefusedError as exc:
            logger.warning("kme=%s refused a link state from %s (%d): %s", kme_id, name, exc.status, exc)
            message = MSG_UNAUTHORIZED if exc.status == 401 else MSG_BAD
            raise KmeError(exc.status, message, [{"link_state": str(exc)}]) from None
