"""Applications of QKD keys: an ETSI GS QKD 014 client, a client of ETSI GS QKD 004 key streams
(:mod:`.key_streams`), and file encryption with AES-256-GCM, a one-time
pad, or a hybrid of QKD and ML-KEM (see :mod:`.encryption` and the file format in :mod:`.container`)."""

from __future__ import annotations

from qinternet.apps.container import Container, ContainerError, Header, KemId, Mode, parse_container
from qinternet.apps.encryption import decrypt, encrypt, hybrid_key, otp_key_bits, plan_otp_keys, read_header
from qinternet.apps.etsi_client import KmeClient, KmeRequestError, KmeStatus, MasterKme, QkdKey, SlaveKme
from qinternet.apps.key_streams import KeyStreamClient, KeyStreamError, OpenedStream, StreamKey
from qinternet.apps.pqc import generate_mlkem_keypair, load_mlkem_private, load_mlkem_public

__all__ = [
    "Container",
    "ContainerError",
    "Header",
    "KemId",
    "KeyStreamClient",
    "KeyStreamError",
    "KmeClient",
    "KmeRequestError",
    "KmeStatus",
    "MasterKme",
    "Mode",
    "OpenedStream",
    "QkdKey",
    "SlaveKme",
    "StreamKey",
    "decrypt",
    "encrypt",
    "generate_mlkem_keypair",
    "hybrid_key",
    "load_mlkem_private",
    "load_mlkem_public",
    "otp_key_bits",
    "parse_container",
    "plan_otp_keys",
    "read_header",
]
