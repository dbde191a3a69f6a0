"""One reproducible random stream per named process, derived from the kernel's seed.

A stream is ``numpy.random.Generator(PCG64(SeedSequence(entropy=seed, spawn_key=(TAG, h(name)))))``
where ``h`` is the 128-bit BLAKE2b digest of the UTF-8 name, read as a big-endian integer, and ``TAG`` a
fixed constant. Why this way:

* **Keyed by name, not by order.** ``SeedSequence.spawn(n)`` numbers its children in creation order,
  so adding a process would shift every later stream. Keying the spawn key on the name makes a
  stream depend only on ``(seed, name)``: adding, removing or reordering other processes changes
  nothing else, bit for bit.
* **A stable hash.** Python's ``hash(str)`` is salted per interpreter (``PYTHONHASHSEED``), so it
  would give different streams in every run; BLAKE2b is the same everywhere and forever. 128 bits
  make a collision between two names practically impossible (``zlib.crc32``'s 32 bits would collide
  with probability ~1 % among 10,000 names).
* **SeedSequence mixing.** NumPy's SeedSequence hashes entropy and spawn key together so that
  streams of nearby seeds or similar names are statistically independent (O'Neill's seed_seq design,
  as used by ``SeedSequence.spawn``).
* **A tag.** ``TAG`` keeps these keys apart from the spawn keys ``(0,), (1,), ...`` that
  ``SeedSequence(seed).spawn()`` gives to any other user of the same seed.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

from qinternet.errors import ParameterError

__all__ = ["STREAM_TAG", "check_seed", "name_key", "stream_seed_sequence"]

STREAM_TAG = 0x71696E74  # "qint": separates named process streams from SeedSequence.spawn() children


def check_seed(seed: object) -> int:
    """``seed`` as a non-negative ``int`` (numpy integers accepted), else :class:`ParameterError`."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ParameterError("seed", f"must be a non-negative integer, got {seed!r}")
    value = int(seed)
    if value < 0:
        raise ParameterError("seed", f"must be a non-negative integer, got {value}")
    return value


def name_key(name: str) -> int:
    """The stable 128-bit key of a stream name: BLAKE2b-128 of its UTF-8 bytes, big-endian."""
    if not isinstance(name, str) or not name:
        raise ParameterError("name", f"must be a non-empty string, got {name!r}")
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest(), "big")


def stream_seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The SeedSequence of stream ``name`` under ``seed`` (see the module docstring)."""
    return np.random.SeedSequence(entropy=check_seed(seed), spawn_key=(STREAM_TAG, name_key(name)))
