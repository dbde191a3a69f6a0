"""ML-KEM-768 (FIPS 203) for the hybrid mode, from the ``cryptography`` package.

``cryptography`` has ML-KEM since 47.0.0 for AWS-LC and BoringSSL builds, and since 48.0.0 with OpenSSL
3.5 or later, which its PyPI wheels bundle: so ``cryptography>=48`` is what makes it available to a plain
``pip install``. It is imported here lazily, so that the other modes work with an older ``cryptography``;
without ML-KEM, :func:`require_mlkem` raises a :class:`ParameterError` that says what to install.

ML-KEM-768 is the parameter set of the hybrid key exchanges deployed today (``X25519MLKEM768`` in TLS) and
of NIST security category 3. Keys are stored as PEM: the public key as SubjectPublicKeyInfo, the private
key as PKCS#8 holding the 64-byte seed (RFC 9935), unencrypted and readable by its owner only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm

from qinternet.errors import ParameterError
from qinternet.outputs import check_output_folder, create_file, staged_folder

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey

__all__ = [
    "MLKEM768_CIPHERTEXT_BYTES",
    "MLKEM_PRIVATE_FILE",
    "MLKEM_PUBLIC_FILE",
    "MlkemFiles",
    "fingerprint",
    "generate_mlkem_keypair",
    "load_mlkem_private",
    "load_mlkem_public",
    "require_mlkem",
]

MLKEM768_CIPHERTEXT_BYTES = 1088
"""Length of an ML-KEM-768 ciphertext (FIPS 203, Table 3)."""

MLKEM_PUBLIC_FILE = "mlkem768-public.pem"
MLKEM_PRIVATE_FILE = "mlkem768-private.pem"


def require_mlkem(field: str) -> None:
    """Raise ``ParameterError(field, ...)`` unless the installed ``cryptography`` can do ML-KEM-768."""
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
        from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: F401
    except ImportError:
        raise ParameterError(field, "ML-KEM needs cryptography>=48 (pip install -U cryptography)") from None
    if not backend.mlkem_supported():
        raise ParameterError(field, "this cryptography build has no ML-KEM (needs OpenSSL >= 3.5 or AWS-LC)")


def fingerprint(public_key: MLKEM768PublicKey) -> bytes:
    """SHA-256 of the raw encapsulation key (1184 bytes): 32 bytes that name a recipient's key."""
    return hashlib.sha256(public_key.public_bytes_raw()).digest()


@dataclass(frozen=True, slots=True)
class MlkemFiles:
    """Where :func:`generate_mlkem_keypair` put the two PEM files."""

    public: Path
    private: Path


def generate_mlkem_keypair(folder: Path, *, overwrite: bool = False) -> MlkemFiles:
    """Make an ML-KEM-768 key pair in ``folder`` (created if missing, not its parent); the private key file is
    mode 0600. Both files are written together or not at all.

    Raises:
        ParameterError: ``folder`` is a file or cannot be written, or already holds a key pair and
            ``overwrite`` is False.
    """
    require_mlkem("folder")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

    check_output_folder(folder, "folder")
    files = MlkemFiles(folder / MLKEM_PUBLIC_FILE, folder / MLKEM_PRIVATE_FILE)
    if not overwrite and (files.private.exists() or files.public.exists()):
        raise ParameterError("folder", f"{str(folder)!r} already holds an ML-KEM key pair; not overwriting it")
    private = MLKEM768PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with staged_folder(folder, [MLKEM_PRIVATE_FILE, MLKEM_PUBLIC_FILE], "folder") as stage:
        create_file(stage / MLKEM_PRIVATE_FILE, pem, private=True)
        create_file(stage / MLKEM_PUBLIC_FILE, public)
    return files


def load_mlkem_public(path: Path, field: str = "mlkem_public") -> MLKEM768PublicKey:
    """Read an ML-KEM-768 public key (PEM SubjectPublicKeyInfo); ``ParameterError(field, ...)`` otherwise."""
    require_mlkem(field)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PublicKey

    key = _load_pem(path, field, serialization.load_pem_public_key, "a PEM public key")
    if not isinstance(key, MLKEM768PublicKey):
        raise ParameterError(field, f"{str(path)!r} holds a {type(key).__name__}, not an ML-KEM-768 public key")
    return key


def load_mlkem_private(path: Path, field: str = "mlkem_private") -> MLKEM768PrivateKey:
    """Read an ML-KEM-768 private key (PEM PKCS#8, unencrypted); ``ParameterError(field, ...)`` otherwise."""
    require_mlkem(field)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey

    def load(data: bytes) -> object:
        return serialization.load_pem_private_key(data, password=None)

    key = _load_pem(path, field, load, "an unencrypted PEM private key")
    if not isinstance(key, MLKEM768PrivateKey):
        raise ParameterError(field, f"{str(path)!r} holds a {type(key).__name__}, not an ML-KEM-768 private key")
    return key


def _load_pem(path: Path, field: str, load: Callable[[bytes], object], form: str) -> object:
    """The key ``load`` reads from the file at ``path`` (``form`` says what it must be); else ``ParameterError``."""
    data = _read(path, field)
    try:
        return load(data)
    except (ValueError, TypeError):
        raise ParameterError(field, f"{str(path)!r} is not {form}") from None
    except UnsupportedAlgorithm:
        raise ParameterError(field, f"{str(path)!r} holds a key type this cryptography does not know") from None


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ParameterError(field, f"no such file {str(path)!r}") from None
    except OSError as exc:
        raise ParameterError(field, f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
