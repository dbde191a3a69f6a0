"""A simulated pair of QKD devices that push a link's key to its two KMEs: the library behind ``qinternet device``.

A link of a scenario runs here as in ``qinternet serve`` (the same engine, from the registry of link kinds,
on the simulation kernel, as the process ``link:<ID>``, so its blocks are the same), in real time or at a
speed. When a block ends, its key becomes keys of the stream's chunk size, and each device pushes its half
to its own KME over the southbound interface (:mod:`qinternet.kms.api_southbound`), with its own
certificate (``dev-<link>-<node>``).

Where the key bytes come from (:class:`LinkKeySource`):

- by default, from the seeded random stream ``device-key:<link>:<block>`` of the scenario's seed: the
  same bytes for both devices, a block's bytes the same in every run. The bytes stand in for the link's
  key, as the in-process feeder's do; they are *not secret* (anyone with the scenario and its seed makes
  them), and nothing on this path calls ``os.urandom``;
- with ``postprocess``, from the post-processing pipeline (:func:`qinternet.postprocessing.pipeline.
  postprocess`): each block's pulses are drawn by the link's Monte-Carlo (:func:`qinternet.qkd.montecarlo.
  simulate_link`, stream ``device-postprocess:<link>:<block>``) and sifted, error-corrected, verified and
  privacy-amplified; device ``a`` pushes Alice's key and device ``b`` Bob's, which their KMEs compare. A
  block the pipeline aborts gives no key. Decoy-BB84 fibre links only.

A key's index is ``block << 32 | chunk`` (its block, and its place in the block): the device names each
key by where it came from, so that a device pair restarted after a crash makes the same keys at the same
indices. On start, each device opens its stream (the ``Key_stream_ID`` is derived from the scenario's name
and seed and the link) and its KME tells it the next index it expects; the pair replays the link at once
up to the first block one of the KMEs still lacks, and pushes each KME only the indices it lacks. Nothing
a KME acknowledged is lost, nor pushed twice.

At most ``max_block_bits`` of a block become keys (the rest is discarded at the devices and counted), so
that a long block of a fast link does not become millions of requests.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qinternet.apps.etsi_client import KmeHttpClient, KmeRequestError
from qinternet.errors import ParameterError
from qinternet.kms.api_southbound import MAX_KEYS_PER_PUSH, SOUTHBOUND_PATH
from qinternet.kms.etsi004 import Status
from qinternet.kms.pki import PkiFiles
from qinternet.kms.southbound import DeviceEnd, device_ends, device_id
from qinternet.network.links.base import BlockRecord
from qinternet.network.links.build import build_links
from qinternet.network.links.fibre import FibreLinkEngine
from qinternet.network.schema import Scenario
from qinternet.network.schema_base import LinkSpecBase
from qinternet.postprocessing.pipeline import PipelineParams, postprocess
from qinternet.qkd.montecarlo import LinkSampler, compile_link, simulate_link
from qinternet.qkd.record import DetectionRecord
from qinternet.sim import Kernel, Process, ProcessGenerator, ps_to_seconds, seconds_to_ps
from qinternet.sim.rng import stream_seed_sequence

__all__ = [
    "CHUNK_BITS",
    "MAX_POSTPROCESS_DETECTIONS",
    "BlockKeys",
    "DevicePair",
    "DeviceReport",
    "LinkKeySource",
    "SouthboundClient",
    "stream_id",
]

CHUNK_BITS = 32
"""A key's index is its block's number shifted left by this, plus its place in the block."""
MAX_POSTPROCESS_DETECTIONS = 2e7
"""Most detections of one block the post-processing pipeline is run on (its memory grows with them)."""
_NAMESPACE = uuid.UUID("5b1d8a2e-4c0f-4e47-9a53-6f8c2d1b7e90")
"""Names the device streams' IDs (:func:`stream_id`)."""

logger = logging.getLogger("qinternet.device")


def stream_id(scenario: Scenario, link: str) -> str:
    """The ``Key_stream_ID`` of a link's device pair: derived from the scenario's name and seed and the link,
    so that both devices, and the pair after a restart, name the same stream."""
    return str(uuid.uuid5(_NAMESPACE, f"{scenario.name}\x00{scenario.seed}\x00{link}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockKeys:
    """The keys of one block: its number and each device's bytes (equal unless the pipeline's differ).

    Attributes:
        block: the block's number (from 0).
        alice, bob: the keys of device ``a`` and device ``b``, ``chunk_bytes`` each (never in a repr).
        discarded_bits: key of the block beyond ``max_block_bits`` (or short of a whole chunk), not pushed.
    """

    block: int
    alice: list[bytes] = field(repr=False)
    bob: list[bytes] = field(repr=False)
    discarded_bits: int = 0

    def index(self, chunk: int) -> int:
        """The stream index of the block's ``chunk``-th key."""
        return (self.block << CHUNK_BITS) | chunk


class LinkKeySource:
    """A link's engine on the kernel, turning each block it ends into keys (module docstring).

    Args:
        scenario: the network; link: the link's ID.
        chunk_bytes: length of every key.
        max_block_bits: most key of one block made into keys.
        postprocess: key from the post-processing pipeline (decoy-BB84 fibre links), else from the seeded stream.

    Raises:
        ParameterError: ``link`` is not a link of the scenario (field ``link``), or the pipeline cannot run
            on it (field ``postprocess``).
    """

    def __init__(
        self, scenario: Scenario, link: str, *, chunk_bytes: int, max_block_bits: float, postprocess: bool = False
    ) -> None:
        specs = {spec.id: i for i, spec in enumerate(scenario.links)}
        if link not in specs:
            known = ", ".join(list(specs)[:10])
            raise ParameterError("link", f"no link {link[:60]!r} in {scenario.name} (its links: {known})")
        self.scenario = scenario
        self.spec: LinkSpecBase = scenario.links[specs[link]]
        self.chunk_bytes = chunk_bytes
        self.max_chunks = int(max_block_bits // (8 * chunk_bytes))
        self.engine = build_links(scenario, only=[specs[link]])[0].engine  # its link alone: 1 of 35 tunings
        self._pipeline: PipelineParams | None = None
        self._sampler: LinkSampler | None = None
        if postprocess:
            self._check_pipeline()
        self.kernel = Kernel(seed=scenario.seed)
        self._blocks: list[BlockRecord] = []
        self.kernel.process(self._body, f"link:{link}")  # the name serve's feeder gives it: the same blocks
        self.blocks_seen = 0
        self.skip_below = 0
        """Blocks before this number are run but not made into keys (already pushed before a restart)."""
        self._ready: list[BlockKeys] = []

    def _body(self, proc: Process) -> ProcessGenerator:
        return self.engine.runner()(proc, self._ended)

    def _ended(self, record: BlockRecord) -> None:
        self._blocks.append(record)

    def _check_pipeline(self) -> None:
        engine = self.engine
        if not isinstance(engine, FibreLinkEngine):
            raise ParameterError(
                "postprocess", f"runs on decoy-BB84 fibre links; {self.spec.id} is a {self.spec.kind.value} link"
            )
        sampler = compile_link(engine.system, engine.channel)
        detections = engine.block_pulses * sampler.detection_probability
        if detections > MAX_POSTPROCESS_DETECTIONS:
            raise ParameterError(
                "postprocess",
                f"a block of {self.spec.id} holds ~{detections:.2g} detections, more than the pipeline runs on at "
                f"once ({MAX_POSTPROCESS_DETECTIONS:.0e}): shorten its block_s",
            )
        self._sampler = sampler
        self._pipeline = PipelineParams(security=engine.security)

    @property
    def simulated_s(self) -> float:
        """The link's clock, s."""
        return ps_to_seconds(self.kernel.now_ps)

    def advance(self, until_s: float) -> list[BlockKeys]:
        """Run the link up to ``until_s`` simulated seconds (a block that ends then included); the keys of the
        blocks it ended from :attr:`skip_below` on."""
        target = seconds_to_ps(until_s) + 1
        if target > self.kernel.now_ps:
            self.kernel.run(until_ps=target)
        ended, self._blocks = self._blocks, []
        made, self._ready = self._ready, []
        for record in ended:
            number = self.blocks_seen
            self.blocks_seen += 1
            if number >= self.skip_below:
                made.append(self._keys(number, record))
        return made

    def fast_forward(self, block: int) -> None:
        """Run the link at once, making no keys, until ``block`` blocks have ended (or its run is over); keys of
        later blocks ended meanwhile come with the next :meth:`advance`."""
        self.skip_below = max(self.skip_below, block)
        while self.blocks_seen < block and self.simulated_s <= self.scenario.time.duration_s:
            self._ready = self.advance(self.simulated_s + self.spec.block_s)

    def _keys(self, number: int, record: BlockRecord) -> BlockKeys:
        """The keys of block ``number``: from the seeded stream, or from the pipeline."""
        if self._pipeline is None:
            bits = record.key_bits
            count = min(bits // (8 * self.chunk_bytes), self.max_chunks)
            rng = self._rng("key", number)
            keys = [rng.bytes(self.chunk_bytes) for _ in range(count)]
            return BlockKeys(block=number, alice=keys, bob=keys, discarded_bits=bits - 8 * self.chunk_bytes * count)
        alice_bits, bob_bits = self._postprocessed(number)
        count = min(alice_bits.size // (8 * self.chunk_bytes), self.max_chunks)
        alice, bob = (np.packbits(bits[: 8 * self.chunk_bytes * count]).tobytes() for bits in (alice_bits, bob_bits))
        return BlockKeys(
            block=number,
            alice=_chunks(alice, self.chunk_bytes),
            bob=_chunks(bob, self.chunk_bytes),
            discarded_bits=int(alice_bits.size) - 8 * self.chunk_bytes * count,
        )

    def _rng(self, what: str, number: int) -> np.random.Generator:
        """The seeded stream ``device-<what>:<link>:<block>`` (:mod:`qinternet.sim.rng`)."""
        name = f"device-{what}:{self.spec.id}:{number}"
        return np.random.Generator(np.random.PCG64(stream_seed_sequence(self.scenario.seed, name)))

    def _postprocessed(self, number: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Alice's and Bob's net keys (uint8 0/1) of block ``number`` through the pipeline (empty if it aborts)."""
        assert self._pipeline is not None
        assert self._sampler is not None
        assert isinstance(self.engine, FibreLinkEngine)
        rng = self._rng("postprocess", number)
        record = DetectionRecord.concatenate(list(simulate_link(self._sampler, self.engine.block_pulses, rng)))
        outcome = postprocess(record, self.engine.system, self._pipeline, rng)
        if outcome.aborted:
            logger.info("link=%s block=%d: post-processing aborted (%s)", self.spec.id, number, outcome.abort_reason)
            empty = np.zeros(0, dtype=np.uint8)
            return empty, empty
        return outcome.alice_key, outcome.bob_key


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


class SouthboundClient(KmeHttpClient):
    """A QKD device's client of its KME's southbound interface, over HTTPS with mutual TLS (the device's
    certificate names it; arguments as :class:`~qinternet.apps.etsi_client.KmeHttpClient`'s)."""

    API_PATH = SOUTHBOUND_PATH

    def open_connect(self, ksid: str, chunk_bytes: int, link: str) -> dict[str, Any]:
        """OPEN_CONNECT the stream; the KME's answer (``status``, ``next_index``, ...)."""
        body = {"Key_stream_ID": ksid, "link": link, "QoS": {"Key_chunk_size": chunk_bytes}}
        answer: dict[str, Any] = self._call("POST", "open_connect", f"OPEN_CONNECT of stream {ksid}", body)
        return answer

    def push(self, ksid: str, keys: Sequence[tuple[int, bytes]]) -> list[str]:
        """Push keys ``(index, bytes)``; the KME's outcome for each (``pooled``, ``pending``, ...)."""
        body = {
            "Key_stream_ID": ksid,
            "keys": [
                {"index": index, "length": len(key), "Key_buffer": base64.b64encode(key).decode("ascii")}
                for index, key in keys
            ],
        }
        operation = f"push of {len(keys)} key(s) to stream {ksid}"
        answer = self._call("POST", "push_key", operation, body)
        outcomes = answer.get("keys") if isinstance(answer, dict) else None
        if not isinstance(outcomes, list) or len(outcomes) != len(keys):
            raise KmeRequestError(operation, 200, "the answer does not give one outcome per key")
        return [str(item.get("outcome")) if isinstance(item, dict) else "?" for item in outcomes]

    def close_stream(self, ksid: str) -> None:
        """CLOSE the stream at this end."""
        self._call("POST", "close", f"CLOSE of stream {ksid}", {"Key_stream_ID": ksid})


@dataclass(slots=True)
class DeviceReport:
    """What a device pair did: blocks run, keys made, and the KMEs' outcomes per end (``a``, ``b``)."""

    blocks: int = 0
    keys: int = 0
    discarded_bits: int = 0
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: {"a": Counter(), "b": Counter()})

    def summary(self) -> str:
        """One line."""
        ends = "; ".join(
            f"{end}: " + (", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "nothing pushed")
            for end, counts in self.outcomes.items()
        )
        return f"{self.blocks} block(s), {self.keys} key(s) made, {self.discarded_bits} bit(s) discarded; {ends}"


class _End:
    """One device of the pair: its KME's client, the next index its KME expects, and its keys not yet pushed."""

    def __init__(self, end: DeviceEnd, client: SouthboundClient) -> None:
        self.end, self.client = end, client
        self.next_index = 0
        self.backlog: list[tuple[int, bytes]] = []


class DevicePair:
    """The two devices of a link, pushing its keys to their KMEs (module docstring).

    Args:
        source: the link's keys.
        urls: the KMEs' base URLs, for the link's ends ``a`` and ``b``.
        pki: the folder of ``ca.pem`` and the devices' certificates and keys.
        timeout_s: per-request timeout.

    Raises:
        ParameterError: a URL that is not an https one (field ``kme_a`` / ``kme_b``), a missing or unusable
            certificate (field ``pki``).
    """

    def __init__(self, source: LinkKeySource, urls: tuple[str, str], pki: PkiFiles, *, timeout_s: float = 10.0) -> None:
        self.source = source
        self.ksid = stream_id(source.scenario, source.spec.id)
        ends = device_ends(source.scenario)
        self._ends: list[_End] = []
        try:
            for letter, node, url in (("a", source.spec.a, urls[0]), ("b", source.spec.b, urls[1])):
                end = ends[device_id(source.spec.id, node)]
                client = _client(url, pki, end, f"kme_{letter}", timeout_s)
                self._ends.append(_End(end, client))
        except BaseException:
            self.close()
            raise
        self.report = DeviceReport()

    def close(self) -> None:
        """Close the connections."""
        for end in self._ends:
            end.client.close()

    def open(self) -> None:
        """OPEN_CONNECT at both KMEs, and replay the link up to the first block one of them lacks.

        Raises:
            ParameterError: a KME cannot be reached or refuses the stream (field ``kme_a`` / ``kme_b``), or has
                it with another chunk size (field ``chunk_bytes``).
        """
        for end in self._ends:
            field_name = f"kme_{end.end.end}"
            try:
                answer = end.client.open_connect(self.ksid, self.source.chunk_bytes, self.source.spec.id)
            except KmeRequestError as exc:
                raise ParameterError(field_name, str(exc)) from None
            except ParameterError as exc:  # the KME's certificate names another KME
                raise ParameterError(field_name, exc.reason) from None
            status = answer.get("status")
            if status == Status.OC_QOS_NOT_SATISFIABLE:
                chunk = answer.get("QoS", {}).get("Key_chunk_size")
                raise ParameterError("chunk_bytes", f"stream {self.ksid} has keys of {chunk} bytes at {end.end.kme}")
            if status not in (Status.SUCCESSFUL, Status.PEER_NOT_CONNECTED):
                raise ParameterError(field_name, f"{end.end.kme} refused the stream: {answer.get('message', status)}")
            end.next_index = int(answer.get("next_index", 0))
            logger.info(
                "device %s: stream %s open at %s, next index %d (block %d)",
                end.end.device,
                self.ksid,
                end.end.kme,
                end.next_index,
                end.next_index >> CHUNK_BITS,
            )
        self.source.fast_forward(min(end.next_index for end in self._ends) >> CHUNK_BITS)

    def step(self, until_s: float) -> None:
        """Run the link to ``until_s`` simulated seconds and push what it made (and what earlier pushes left)."""
        for block in self.source.advance(until_s):
            self.report.blocks += 1
            self.report.keys += len(block.alice)
            self.report.discarded_bits += block.discarded_bits
            for end, keys in zip(self._ends, (block.alice, block.bob), strict=True):
                end.backlog += [(block.index(i), key) for i, key in enumerate(keys) if block.index(i) >= end.next_index]
        for end in self._ends:
            self._push(end)

    def _push(self, end: _End) -> None:
        """Push ``end``'s backlog, a batch at a time; what a failed request did not push stays for the next step."""
        while end.backlog:
            batch = end.backlog[:MAX_KEYS_PER_PUSH]
            try:
                outcomes = end.client.push(self.ksid, batch)
            except KmeRequestError as exc:
                logger.warning("device %s: %s; trying again at the next step", end.end.device, exc)
                return
            del end.backlog[: len(batch)]
            end.next_index = batch[-1][0] + 1
            self.report.outcomes[end.end.end].update(outcomes)
            refused = Counter(o for o in outcomes if o not in ("pooled", "pending", "discarded"))
            if refused:
                logger.warning("device %s: %s refused %s", end.end.device, end.end.kme, dict(refused))

    def close_streams(self) -> None:
        """CLOSE the stream at both KMEs (a KME that cannot be reached is logged)."""
        for end in self._ends:
            try:
                end.client.close_stream(self.ksid)
            except KmeRequestError as exc:
                logger.warning("device %s: %s", end.end.device, exc)

    def run(
        self,
        *,
        speed: float = 1.0,
        stop_after_s: float | None = None,
        warm_up_s: float = 0.0,
        on_ready: Callable[[], None] | None = None,
        tick_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> DeviceReport:
        """:meth:`open`, then push the link's key in real time at ``speed`` (simulated seconds per wall second)
        until ``stop_after_s`` of wall time (or ^C), then :meth:`close_streams`.

        ``warm_up_s``: the link's first ``warm_up_s`` simulated seconds are run and pushed at once, before the
        pacing starts (as ``serve``'s warm-up fills the pools of the links it runs); a pair restarted past them
        (:meth:`open` replays what its KMEs hold) pushes only what they lack. ``on_ready`` is called once the
        streams are open and the warm-up pushed (what of it the KMEs acknowledged)."""
        self.open()
        try:
            if self.source.simulated_s < warm_up_s:
                self.step(warm_up_s)
            if on_ready is not None:
                on_ready()
            start_s, started = self.source.simulated_s, clock()
            while True:
                elapsed = clock() - started
                self.step(start_s + speed * elapsed)
                if stop_after_s is not None and elapsed >= stop_after_s:
                    break
                sleep(tick_s if stop_after_s is None else max(0.0, min(tick_s, stop_after_s - elapsed)))
        finally:
            self.close_streams()
        return self.report


def _client(url: str, pki: PkiFiles, end: DeviceEnd, field_name: str, timeout_s: float) -> SouthboundClient:
    try:
        return SouthboundClient(
            url, pki.cert(end.device), pki.key(end.device), pki.ca, timeout_s=timeout_s, kme_id=end.kme
        )
    except ParameterError as exc:
        raise ParameterError(field_name if exc.field == "url" else "pki", exc.reason) from None
