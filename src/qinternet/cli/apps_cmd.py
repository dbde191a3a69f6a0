"""``qinternet encrypt``, ``qinternet decrypt`` and ``qinternet keygen-mlkem``: files encrypted with QKD keys.

The sender (the ETSI GS QKD 014 master SAE) names its KME, its certificate and the recipient's SAE ID;
the recipient (the slave SAE) names its own KME and certificate, and the file's header tells it the rest.
Everything that can be checked without a KME (files, output path, keys, the file's format) is checked
first: a KME delivers each key once, so a request that cannot lead to a written file wastes key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.x509.oid import NameOID

from qinternet.apps.container import ContainerError, Mode, parse_container
from qinternet.apps.encryption import decrypt as decrypt_bytes
from qinternet.apps.encryption import encrypt as encrypt_bytes
from qinternet.apps.etsi_client import KmeClient, KmeRequestError
from qinternet.apps.pqc import generate_mlkem_keypair, load_mlkem_private, load_mlkem_public
from qinternet.errors import ParameterError
from qinternet.outputs import check_output_file, write_file

__all__ = ["SUFFIX", "as_options", "decrypt", "encrypt", "keygen_mlkem"]

SUFFIX = ".qkd"
"""Added to an encrypted file's name by default, and taken off again by ``decrypt``."""

# Which option of these commands stands for which field of the library's errors.
_OPTIONS = {
    "url": "--kme",
    "cert": "--cert",
    "key": "--key",
    "ca": "--ca",
    "mode": "--mode",
    "mlkem_public": "--mlkem-public",
    "mlkem_private": "--mlkem-private",
    "file": "FILE",
    "folder": "DIR",
    "kme_id": "--kme-id",
    "slave": "--slave",
}

KmeOption = Annotated[str, typer.Option("--kme", help="URL of your SAE's KME (ETSI GS QKD 014), https://host:port.")]
CertOption = Annotated[Path, typer.Option(help="Your SAE's certificate (PEM): the KME knows you by it.")]
KeyOption = Annotated[Path, typer.Option(help="The private key of that certificate (PEM).")]
CaOption = Annotated[Path, typer.Option(help="The CA certificate that signed the KME's certificate (PEM).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite the output file if it exists.")]
KmeIdOption = Annotated[
    str | None, typer.Option(help="The KME ID you expect; its certificate must name it (ETSI 014 clause 5.1).")
]


def encrypt(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The file to encrypt.")],
    kme: KmeOption,
    cert: CertOption,
    key: KeyOption,
    ca: CaOption,
    slave: Annotated[str, typer.Option(help="SAE ID of the recipient (the slave SAE), e.g. sae-bob.")],
    mode: Annotated[
        Mode, typer.Option(help="aes-gcm: one 256-bit QKD key; otp: one-time pad; hybrid: QKD + ML-KEM-768.")
    ] = Mode.AES_GCM,
    mlkem_public: Annotated[
        Path | None, typer.Option(help="The recipient's ML-KEM-768 public key (PEM), for --mode hybrid.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help=f"Encrypted file to write (default: FILE{SUFFIX}).")] = None,
    force: ForceOption = False,
    kme_id: KmeIdOption = None,
) -> None:
    """Encrypt FILE for another SAE with new keys from your KME; the key IDs go into the file's header."""
    target = out if out is not None else file.with_name(file.name + SUFFIX)
    plaintext = _read(file)
    _check_output(target, force)
    with as_options():
        if mode is Mode.HYBRID and mlkem_public is None:
            raise ParameterError("mlkem_public", "--mode hybrid needs the recipient's ML-KEM public key")
        if mode is not Mode.HYBRID and mlkem_public is not None:
            raise ParameterError("mlkem_public", f"only --mode hybrid uses it, not {mode.value}")
        public = None if mlkem_public is None else load_mlkem_public(mlkem_public)
        with KmeClient(kme, cert, key, ca, kme_id=kme_id) as client:
            sealed = encrypt_bytes(plaintext, kme=client, slave=slave, mode=mode, mlkem_public=public)
    _write(target, sealed)
    key_count = len(parse_container(sealed).header.key_ids)
    typer.echo(f"{file} ({len(plaintext)} bytes) -> {target}: {mode.value} for {slave}, {key_count} QKD key(s)")


def decrypt(
    file: Annotated[Path, typer.Argument(metavar="FILE", help=f"A file made by qinternet encrypt (FILE{SUFFIX}).")],
    kme: KmeOption,
    cert: CertOption,
    key: KeyOption,
    ca: CaOption,
    mlkem_private: Annotated[
        Path | None, typer.Option(help="Your ML-KEM-768 private key (PEM), for a hybrid file.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help=f"Decrypted file to write (default: FILE without {SUFFIX}).")] = None,
    force: ForceOption = False,
    kme_id: KmeIdOption = None,
) -> None:
    """Decrypt FILE with the keys your KME delivers for the key IDs in its header.

    The KME delivers a key once: a decryption spends the file's keys, also when it fails because the
    file was altered (keep the .qkd file intact until it has been decrypted).
    """
    if out is None:
        if file.suffix != SUFFIX:
            raise ParameterError("--out", f"FILE does not end in {SUFFIX}: name the decrypted file")
        out = file.with_suffix("")
    data = _read(file)
    with as_options():
        header = parse_container(data).header  # a malformed file fails here, before any key is asked for
        _check_output(out, force)
        private = None if mlkem_private is None else load_mlkem_private(mlkem_private)
        with KmeClient(kme, cert, key, ca, kme_id=kme_id) as client:
            try:
                plaintext = decrypt_bytes(data, kme=client, mlkem_private=private)
            except KmeRequestError as error:
                caller = _certificate_name(cert)
                if error.status not in (400, 401) or caller is None or caller == header.slave_sae_id:
                    raise
                raise ParameterError(
                    "--kme",
                    f"{error} (FILE's keys were issued for {header.slave_sae_id!r} by {header.master_sae_id!r}, "
                    f"and --cert is {caller!r}: decrypt with that SAE's certificate at its KME)",
                ) from None
    _write(out, plaintext)
    typer.echo(f"{file} -> {out} ({len(plaintext)} bytes, authenticated)")


def keygen_mlkem(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder for the ML-KEM-768 key pair (PEM files).")],
    force: Annotated[bool, typer.Option("--force", help="Replace a key pair already in DIR.")] = False,
) -> None:
    """Make an ML-KEM-768 key pair for hybrid files: give the public key to senders, keep the private one."""
    with as_options():
        try:
            files = generate_mlkem_keypair(folder, overwrite=force)
        except OSError as exc:
            raise ParameterError("folder", f"cannot write {str(folder)!r}: {exc.strerror or exc}") from None
    typer.echo(f"public key {files.public} (for --mlkem-public), private key {files.private} (for --mlkem-private)")


@contextlib.contextmanager
def as_options(extra: Mapping[str, str] | None = None) -> Iterator[None]:
    """Errors of the library name fields (``cert``, ``header.nonce``); the CLI names its options (those of
    these commands, and ``extra``: field -> option)."""
    options = {**_OPTIONS, **(extra or {})}
    try:
        yield
    except ContainerError as error:
        raise ParameterError("FILE", f"{error.field}: {error.reason}") from None
    except ParameterError as error:
        if error.field not in options:
            raise
        raise ParameterError(options[error.field], error.reason) from None
    except KmeRequestError as error:
        raise ParameterError("--kme", str(error)) from None


def _certificate_name(cert: Path) -> str | None:
    """The common name of the certificate in ``cert`` (the SAE ID our KMEs take from it), or None."""
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return None
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise ParameterError("FILE", f"no such file {str(file)!r}") from None
    except IsADirectoryError:
        raise ParameterError("FILE", f"{str(file)!r} is a folder") from None
    except OSError as exc:
        raise ParameterError("FILE", f"cannot read {str(file)!r}: {exc.strerror or exc}") from None


def _check_output(path: Path, force: bool) -> None:
    check_output_file(path, "--out")
    if path.exists() and not force:
        raise ParameterError("--out", f"{str(path)!r} exists (use --force to overwrite it)")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` whole or not at all, readable by its owner only (it may be a decrypted secret)."""
    write_file(path, data, "--out", private=True)
