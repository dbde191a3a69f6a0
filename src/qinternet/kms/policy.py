"""What a KME allows each SAE: a quota of key per master SAE, and how long a key waits for its slave.

- **Quota** (:class:`SaeQuotas`): every master SAE of a KME has a bucket of ``sae_quota_bits`` that refills
  at ``sae_quota_bits / sae_quota_window_s`` bits per second (a token bucket: at most ``sae_quota_bits`` in
  any burst, and on average no more than that per window). A Get key takes ``number * size`` bits for each
  slave SAE it names; a request the bucket cannot cover now is answered 503 with the Error object and a
  ``Retry-After`` of the seconds until it can, and takes nothing; a request larger than the whole bucket
  can never be served and is a 400. So one SAE cannot drain a pool that several share: an operator sets
  the quota below the key rate of the links the SAEs share. The buckets live in the KME's memory (a
  restart fills them again); they limit a rate, they guard no key.
- **Expiry** (``reservation_ttl_s``): a key the master received from Get key waits at the slave's KME
  until the slave asks for it (Get key with key IDs). One never asked for within ``reservation_ttl_s`` is
  *voided*, never put back into a pool: once the master may hold it, handing the same bits to anyone else
  would break its secrecy. Past the time, Get key with key IDs answers it as not found, and the store
  erases its material (:meth:`~qinternet.kms.store.KeyStore.expire_reserved`).
- **Redelivery window** (``redelivery_window_s``, 60 s by default): a key delivered to its slave SAE may be
  fetched again by the same SAE (authenticated by its certificate), for the same master SAE and key ID, until
  that many seconds after the first delivery, with the same value; its sealed material is then erased
  (:meth:`~qinternet.kms.store.KeyStore.erase_delivered`). A deliberate deviation from ETSI GS QKD 014's
  once-only delivery, which has no acknowledgement from the slave: a KME that dies between committing a
  delivery and its answer would otherwise lose the key. 0: strict once-only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["KeyPolicy", "SaeQuotas"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPolicy:
    """A KME's per-SAE rules (module docstring).

    Attributes:
        sae_quota_bits: the bucket of every master SAE, bits; 0: no quota.
        sae_quota_window_s: the time the bucket takes to fill from empty, s.
        reservation_ttl_s: how long a key waits for its slave SAE before it is voided, s; 0: for ever.
        redelivery_window_s: how long after its delivery the same slave SAE may fetch a key again, s; 0:
            never (strict once-only).
    """

    sae_quota_bits: float = 0.0
    sae_quota_window_s: float = 60.0
    reservation_ttl_s: float = 0.0
    redelivery_window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("sae_quota_bits", "reservation_ttl_s", "redelivery_window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if not (math.isfinite(self.sae_quota_window_s) and self.sae_quota_window_s > 0):
            raise ValueError(f"sae_quota_window_s must be finite and > 0, got {self.sae_quota_window_s}")


class SaeQuotas:
    """A token bucket of key bits per master SAE (the KME's event loop is its only user: no lock).

    Args:
        bits: the bucket, bits (> 0).
        window_s: seconds to fill it from empty.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, bits: float, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bits = bits
        self._rate_bps = bits / window_s
        self._clock = clock
        self._held: dict[str, tuple[float, float]] = {}  # sae -> (bits in the bucket, when counted)

    def available(self, sae: str) -> float:
        """Bits ``sae`` may take now."""
        if sae not in self._held:
            return self.bits
        held, at = self._held[sae]
        return min(self.bits, held + (self._clock() - at) * self._rate_bps)

    def take(self, sae: str, bits: float) -> float:
        """Take ``bits`` for ``sae`` and return 0, or take nothing and return the seconds until it could
        (``inf`` when ``bits`` is more than the whole bucket)."""
        if bits > self.bits:
            return math.inf
        held = self.available(sae)
        if held < bits:
            return (bits - held) / self._rate_bps
        self._held[sae] = (held - bits, self._clock())
        return 0.0

    def give_back(self, sae: str, bits: float) -> None:
        """Return what a request took and did not use (it failed)."""
        self._held[sae] = (min(self.bits, self.available(sae) + bits), self._clock())
