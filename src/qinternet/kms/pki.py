"""A private PKI for trying the KMEs: a CA, a server certificate per KME and a client certificate per SAE
and per QKD device (``dev-<link>-<node>``, which pushes its key to its KME: :mod:`.api_southbound`).

ETSI GS QKD 014 (clause 5.1) asks for mutual TLS, with the KME confirming the calling SAE's ID from its
certificate. Here an SAE's ID is the common name (CN) of its certificate, which our CA alone signs
(``clientAuth`` extended key usage); a KME's certificate names it in its CN and is valid for
``localhost``, ``127.0.0.1``, ``::1`` and the host names given (``qinternet pki init --server-name``); it
carries ``serverAuth`` and ``clientAuth``, since a KME also calls its peer KMEs over mutual TLS
(``qinternet kme``, :mod:`.relay`).
Keys are EC P-256; certificates last a year. Made with the ``cryptography`` library.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from qinternet.outputs import check_output_folder, create_file, staged_folder

__all__ = [
    "CertificateNameError",
    "PkiFiles",
    "check_names",
    "common_name",
    "complete_pki",
    "init_pki",
    "name_problem",
    "server_name_problem",
    "unsigned",
]

_VALID = datetime.timedelta(days=365)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", re.ASCII)
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_MAX_NAME = 64
"""RFC 5280 appendix A.1: ub-common-name, the longest common name."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a KME's or SAE's certificate (its CN, and its file names), or None if it can.

    A scenario's identifiers (letters, digits, ``_ . : -``, not starting with a sign), at most 64 characters:
    no path separators, so the files stay in their folder.
    """
    if not _NAME.fullmatch(name):
        return f"{name[:70]!r} must be letters, digits and _ . : - (starting with a letter or digit)"
    if name.lower() == "ca":
        return "'ca' is the CA's own file name (ca.pem, ca.key)"
    if len(name) > _MAX_NAME:
        return f"{name[:20]!r}... is {len(name)} characters; a certificate's name has at most {_MAX_NAME}"
    return None


class CertificateNameError(ValueError):
    """A KME or SAE name that cannot be a certificate's; ``role`` is ``"kme"`` or ``"sae"``."""

    def __init__(self, role: str, reason: str) -> None:
        super().__init__(reason)
        self.role = role


def check_names(kmes: Sequence[str], saes: Sequence[str]) -> None:
    """Raise :class:`CertificateNameError` for a name that cannot be a certificate's (:func:`name_problem`)
    or one named both as a KME and as an SAE (their files would be one)."""
    for role, names in (("kme", kmes), ("sae", saes)):
        for name in names:
            problem = name_problem(name)
            if problem is not None:
                raise CertificateNameError(role, problem)
    both = sorted(set(kmes) & set(saes))
    if both:
        raise CertificateNameError(
            "sae", f"{both[0]!r} is named as a KME and as an SAE: their certificates would share a file"
        )


@dataclass(frozen=True, slots=True)
class PkiFiles:
    """Where :func:`init_pki` put things: ``ca.pem``, ``<kme>.pem`` / ``<kme>.key``, ``<sae>.pem`` / ``<sae>.key``."""

    folder: Path

    @property
    def ca(self) -> Path:
        """The CA certificate."""
        return self.folder / "ca.pem"

    def cert(self, name: str) -> Path:
        """The certificate of a KME or SAE."""
        return self.folder / f"{name}.pem"

    def key(self, name: str) -> Path:
        """The private key of a KME or SAE."""
        return self.folder / f"{name}.key"


def _name(common: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "qinternet"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    )


_Files = dict[str, tuple[bytes, bool]]
"""Files to write into a PKI folder: name -> (content, whether it is private, i.e. readable by its owner only)."""


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(folder: Path, files: _Files, field: str) -> None:
    """Write ``files`` into ``folder`` together or not at all: an interrupted run never leaves a new CA
    beside certificates of the old one (private keys are readable by their owner only from the start)."""
    with staged_folder(folder, list(files), field) as stage:
        for name, (content, private) in files.items():
            create_file(stage / name, content, private=private)


def _alternative_name(name: str) -> x509.GeneralName:
    """An IP address as an iPAddress entry, anything else as a dNSName (RFC 6125: clients match those)."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def server_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a host name or IP address in a KME's certificate, or None if it can."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        labels = name.split(".")
        if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
            return f"{name[:70]!r} is neither an IP address nor a DNS name (without a final dot or wildcards)"
    return None


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common: str,
    *,
    server: bool,
    server_names: Sequence[str] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # A KME's certificate is also a client's: it calls its peer KMEs over mutual TLS (:mod:`.relay`).
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                if server
                else [ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if server:
        names = list(dict.fromkeys(["localhost", "127.0.0.1", "::1", *server_names]))
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_alternative_name(name) for name in names]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def init_pki(
    folder: Path,
    *,
    kmes: Iterable[str],
    saes: Iterable[str],
    server_names: Sequence[str] = (),
    field: str = "folder",
    devices: Iterable[str] = (),
) -> PkiFiles:
    """Make a CA in ``folder`` and sign a server certificate per KME and a client certificate per SAE
    and per QKD device in ``devices`` (replacing any certificate of those names already there: it would not
    verify under the new CA).
    A KME's certificate is valid for ``localhost``, ``127.0.0.1``, ``::1`` and ``server_names`` (host names
    or IP addresses clients reach the KMEs at).

    The files are written together or not at all (``folder`` is created if missing, not its parent).

    Raises :class:`CertificateNameError` (a ``ValueError``) for a name that cannot be a certificate's
    (:func:`check_names`), before writing; :class:`~qinternet.errors.ParameterError` naming ``field`` when
    the folder cannot be written.
    """
    kmes, saes = list(kmes), [*saes, *devices]
    check_names(kmes, saes)
    check_output_folder(folder, field)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("qinternet test CA"))
        .issuer_name(_name("qinternet test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = PkiFiles(folder)
    new: _Files = {
        "ca.pem": (ca_cert.public_bytes(serialization.Encoding.PEM), False),
        "ca.key": (_key_pem(ca_key), True),
    }
    new |= _sign_all(files, ca_key, ca_cert, kmes=kmes, saes=saes, replace=True, server_names=server_names)
    _write(folder, new, field)
    return files


def _sign_all(
    files: PkiFiles,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    kmes: Iterable[str],
    saes: Iterable[str],
    replace: bool = False,
    server_names: Sequence[str] = (),
) -> _Files:
    """A certificate and key for every name that has none yet in ``files`` (every name, if ``replace``)."""
    new: _Files = {}
    for names, server in ((kmes, True), (saes, False)):
        for name in names:
            if files.cert(name).exists() and not replace:
                continue
            key, cert = _issue(ca_key, ca_cert, name, server=server, server_names=server_names)
            new[files.cert(name).name] = (cert.public_bytes(serialization.Encoding.PEM), False)
            new[files.key(name).name] = (_key_pem(key), True)
    return new


def complete_pki(
    folder: Path,
    *,
    kmes: Iterable[str],
    saes: Iterable[str],
    server_names: Sequence[str] = (),
    field: str = "folder",
    devices: Iterable[str] = (),
) -> list[str]:
    """Sign, with the CA already in ``folder``, the certificates of the KMEs, SAEs and devices that have none.

    Returns the names signed. Raises ``FileNotFoundError`` when the folder has no ``ca.pem`` and ``ca.key``,
    ``ValueError`` for a name that cannot be a certificate's or a CA key that is not ca.pem's.
    """
    kmes, saes = list(kmes), [*saes, *devices]
    check_names(kmes, saes)
    files = PkiFiles(folder)
    ca_cert = x509.load_pem_x509_certificate(files.ca.read_bytes())
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("ca.key is not the EC key this PKI makes")
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if ca_key.public_key().public_bytes(*public) != ca_cert.public_key().public_bytes(*public):
        raise ValueError("ca.key is not the key of ca.pem")
    new = _sign_all(files, ca_key, ca_cert, kmes=kmes, saes=saes, server_names=server_names)
    _write(folder, new, field)
    return [name for name in [*kmes, *saes] if files.cert(name).name in new]


def unsigned(files: PkiFiles, names: Iterable[str], *, client_auth: bool = False) -> list[str]:
    """The names among ``names`` whose certificate is not signed by ``files``' CA or does not go with its
    private key file (a folder mixing two PKIs: a server would start and refuse every client); with
    ``client_auth``, also those that may not authenticate a TLS client (a KME certificate signed before KMEs
    called each other: its peers would refuse it)."""
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    wrong = []
    for name in names:
        try:
            cert = x509.load_pem_x509_certificate(files.cert(name).read_bytes())
            cert.verify_directly_issued_by(ca)
            key = serialization.load_pem_private_key(files.key(name).read_bytes(), password=None)
            if key.public_key().public_bytes(*public) != cert.public_key().public_bytes(*public):
                raise ValueError("the key is not the certificate's")
            if (
                client_auth
                and ExtendedKeyUsageOID.CLIENT_AUTH
                not in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            ):
                raise ValueError("the certificate may not authenticate a client")
        except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            wrong.append(name)
    return wrong


def common_name(peer_cert: dict[str, object] | None) -> str | None:
    """The CN of a certificate as :meth:`ssl.SSLSocket.getpeercert` gives it, or None."""
    if not peer_cert:
        return None
    subject = peer_cert.get("subject")
    if not isinstance(subject, tuple):
        return None
    for rdn in subject:
        for attribute in rdn:
            if isinstance(attribute, tuple) and len(attribute) == 2 and attribute[0] == "commonName":
                return str(attribute[1])
    return None
