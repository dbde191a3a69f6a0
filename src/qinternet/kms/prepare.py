"""Everything a network's KMEs need before they serve: the library function behind ``qinternet serve``'s set-up.

:func:`prepare_kmes` takes a scenario and the settings (:class:`~qinternet.kms.settings.ServeSettings`) and
returns a :class:`KmsPlan`: which KME serves which SAEs and which pools join them, the key limits they
promise, the QKD devices that feed them when their key comes from devices, and a PKI folder that holds a
certificate for every KME, SAE (and device), all signed by its CA (made or completed as needed).
:func:`qinternet.kms.service.run_service` then serves the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qinternet.errors import ParameterError
from qinternet.kms.feeder import topology_of
from qinternet.kms.pki import PkiFiles, complete_pki, init_pki, unsigned
from qinternet.kms.policy import KeyPolicy
from qinternet.kms.settings import ServeSettings
from qinternet.kms.southbound import DeviceEnd, device_ends
from qinternet.kms.topology import KeyLimits, KmsTopology
from qinternet.network.schema import Scenario

__all__ = ["KmsPlan", "key_limits", "key_policy", "prepare_kmes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class KmsPlan:
    """A network's KMEs, ready to serve.

    Attributes:
        scenario: the network whose links feed the KMEs' pools.
        settings: how they serve (ports, store, speed, limits).
        topology: the KMEs, the SAEs attached to each, the pools between them, the trusted KMEs.
        limits: what every KME promises in its Status (ETSI GS QKD 014, Table 9).
        files: the CA and every KME's and SAE's certificate and key.
        policy: the per-SAE quota and the expiry of keys never fetched.
        devices: the QKD devices that push the links' key (``settings.devices`` external), else None (the
            links run in the server).
    """

    scenario: Scenario
    settings: ServeSettings
    topology: KmsTopology
    limits: KeyLimits
    files: PkiFiles
    policy: KeyPolicy
    devices: Mapping[str, DeviceEnd] | None = None

    @property
    def ports(self) -> dict[str, int]:
        """Each KME's port: ``base_port`` onwards, in the order of the KME IDs."""
        return {kme: self.settings.base_port + i for i, kme in enumerate(sorted(self.topology.kmes))}


def _certificates(settings: ServeSettings, topology: KmsTopology, devices: list[str]) -> PkiFiles:
    """The PKI folder with every certificate the topology and ``devices`` need, signed by its CA (made if
    there is none)."""
    kmes, saes = sorted(topology.kmes), sorted(topology.sae_kme)
    files = PkiFiles(settings.pki)
    if not files.ca.exists():
        if settings.pki.is_dir() and any(settings.pki.glob("*.pem")):
            raise ParameterError(
                "--pki", f"{str(settings.pki)!r} holds certificates but no ca.pem; not overwriting them"
            )
        try:
            init_pki(settings.pki, kmes=kmes, saes=saes, devices=devices, field="--pki")
        except ParameterError:
            raise
        except (OSError, ValueError) as exc:
            raise ParameterError("--pki", f"cannot make the certificates: {exc}") from None
    else:  # a PKI made by `qinternet pki init`: sign what this scenario's KMEs and SAEs still lack
        try:
            complete_pki(settings.pki, kmes=kmes, saes=saes, devices=devices, field="--pki")
        except ParameterError:
            raise
        except (OSError, ValueError) as exc:
            raise ParameterError("--pki", f"cannot sign the missing certificates with its CA: {exc}") from None
    missing = [name for name in [*kmes, *topology.sae_kme, *devices] if not files.cert(name).exists()]
    if missing:
        raise ParameterError("--pki", f"no certificate for {', '.join(missing[:5])} in {str(settings.pki)!r}")
    try:
        wrong = unsigned(files, kmes)
    except (OSError, ValueError) as exc:
        raise ParameterError("--pki", f"ca.pem cannot be read: {exc}") from None
    if wrong:
        raise ParameterError(
            "--pki",
            f"{', '.join(f'{name}.pem' for name in wrong[:5])} not signed by {files.ca} or not matching its .key: "
            "clients would be refused (re-sign them: delete them and run again, or pki init --force)",
        )
    return files


def key_limits(settings: ServeSettings) -> KeyLimits:
    """What the KMEs promise in their Status (ETSI GS QKD 014, Table 9), from the settings.

    Raises:
        ParameterError: limits that do not fit together.
    """
    try:
        return KeyLimits(
            key_size=settings.key_size,
            min_key_size=settings.min_key_size,
            max_key_size=settings.max_key_size,
            max_key_per_request=settings.max_key_per_request,
            max_sae_id_count=settings.max_sae_id_count,
            max_key_count=max(1, int(settings.pool_capacity_bits) // settings.key_size),
        )
    except ValueError as exc:
        raise ParameterError("key limits (QINTERNET_KMS_* or --config)", str(exc)) from None


def key_policy(settings: ServeSettings) -> KeyPolicy:
    """The per-SAE quota, the expiry of keys never fetched and the redelivery window, from the settings."""
    return KeyPolicy(
        sae_quota_bits=settings.sae_quota_bits,
        sae_quota_window_s=settings.sae_quota_window_s,
        reservation_ttl_s=settings.reservation_ttl_s,
        redelivery_window_s=settings.redelivery_window_s,
    )


def prepare_kmes(scenario: Scenario, settings: ServeSettings) -> KmsPlan:
    """The KMEs of ``scenario`` with ``settings``: topology, key limits and certificates (signed as needed).

    Raises:
        ParameterError: naming the setting at fault (``--base-port``, ``--pki``, the key limits).
    """
    topology = topology_of(scenario)
    if settings.base_port + len(topology.kmes) - 1 > 65535:
        raise ParameterError("--base-port", f"leaves no room for {len(topology.kmes)} KMEs")
    devices = device_ends(scenario) if settings.devices == "external" else None
    files = _certificates(settings, topology, sorted(devices or ()))
    limits, policy = key_limits(settings), key_policy(settings)
    return KmsPlan(
        scenario=scenario,
        settings=settings,
        topology=topology,
        limits=limits,
        files=files,
        policy=policy,
        devices=devices,
    )
