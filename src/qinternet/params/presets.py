"""Named presets that reproduce published QKD set-ups.

Each preset is a device set of one family of protocols (:mod:`qinternet.params.devicesets`): a
:class:`QkdSystem` (prepare-and-measure and entanglement-based links), an MDI set or a twin-field set, with
the publication it comes from. Values not given by the publication are marked as qinternet's choice in the
preset's ``notes``. :func:`devices_for` gives a protocol family the devices of any preset: its own, or its
family's default with the preset's fibre and detectors.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from qinternet.errors import ParameterError
from qinternet.params.devices import (
    DetectorParams,
    FibreParams,
    PairStatistics,
    QkdSystem,
    SpdcSourceParams,
    WcpSourceParams,
    dark_count_prob_from_background_yield,
)
from qinternet.params.devicesets import DeviceSet, family_name, shared_roles, with_shared_roles
from qinternet.params.mdi import YIN2016, MdiDeviceSet
from qinternet.params.twinfield import LIU2023, TwinFieldDeviceSet

__all__ = ["FAMILY_DEFAULTS", "PRESETS", "Preset", "devices_for", "get_preset"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """A published set-up: its devices and where they come from."""

    name: str
    title: str
    citation: str
    notes: str
    devices: DeviceSet

    @property
    def family(self) -> str:
        """The family of protocols its devices serve (:func:`~qinternet.params.devicesets.family_name`)."""
        return family_name(self.devices)

    @property
    def system(self) -> QkdSystem:
        """The devices of a prepare-and-measure (or entanglement-based) preset.

        Raises:
            ParameterError: for a preset of another family (``preset``), naming it.
        """
        if not isinstance(self.devices, QkdSystem):
            raise ParameterError(
                "preset", f"{self.name!r} is a {self.family} device set; this needs a prepare-and-measure one"
            )
        return self.devices


_GYS2004 = Preset(
    name="gys2004",
    title="Gobby-Yuan-Shields 122 km fibre QKD, as used for the decoy-state curves of Ma et al.",
    citation=(
        "Gobby, Yuan, Shields, APL 84, 3762 (2004); parameters as in Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Table I"
    ),
    notes=(
        "alpha = 0.21 dB/km, e_d = 3.3 %, Y0 = 1.7e-6 (both detectors), eta_Bob = 4.5 %, f = 1.22, "
        "q = 1/2, 2 MHz. Signal 0.48 and weak decoy 0.05 with a vacuum decoy as in Ma et al. 2005, "
        "Fig. 2; the class probabilities (0.8, 0.1, 0.1) for the Monte-Carlo are qinternet's choice."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.21),
        detector=DetectorParams(
            efficiency=0.045,
            dark_count_prob=dark_count_prob_from_background_yield(1.7e-6),
        ),
        source=WcpSourceParams(
            signal_intensity=0.48,
            decoy_intensities=(0.05, 0.0),
            intensity_probs=(0.8, 0.1, 0.1),
            rep_rate_hz=2e6,
        ),
        misalignment_error=0.033,
        ec_efficiency=1.22,
        basis_prob=0.5,
    ),
)

_LIM2014 = Preset(
    name="lim2014",
    title="Lim-Curty-Walenta-Xu-Zbinden practical decoy-state BB84 (finite-key simulations)",
    citation="Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), simulation parameters of Sec. IV",
    notes=(
        "alpha = 0.2 dB/km, eta_Bob = 10 %, p_dc = 6e-7, p_ap = 4 %, e_mis = 0.5 %, f_EC = 1.16, "
        "weakest decoy 2e-4. The finite-key model re-optimises the other intensities and the "
        "probabilities per distance; the values here (and 1 GHz) are qinternet's starting points."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.2),
        detector=DetectorParams(efficiency=0.1, dark_count_prob=6e-7, after_pulse_prob=0.04),
        source=WcpSourceParams(
            signal_intensity=0.5,
            decoy_intensities=(0.1, 0.0002),
            intensity_probs=(0.7, 0.2, 0.1),
            rep_rate_hz=1e9,
        ),
        misalignment_error=0.005,
        ec_efficiency=1.16,
        basis_prob=0.5,
    ),
)

_MICIUS2017 = Preset(
    name="micius2017",
    title="Micius satellite-to-ground decoy-state BB84 downlink to Xinglong",
    citation="Liao et al., Nature 549, 43 (2017)",
    notes=(
        "100 MHz, intensities 0.8 / 0.1 / 0 with probabilities 0.5 / 0.25 / 0.25, bases 50/50 (as Baidu QNET "
        "transcribes the paper). The ground receiver's detection efficiency 0.5, dark and background "
        "counts 3e-7 per detector per pulse, misalignment 1 % (for the ~1 % QBER reported) and f = 1.16 are "
        "qinternet's choices: the paper's receiver budget was not at hand. The channel (free-space optics, "
        "no fibre) is the scenario's."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.0),
        detector=DetectorParams(efficiency=0.5, dark_count_prob=3e-7),
        source=WcpSourceParams(
            signal_intensity=0.8,
            decoy_intensities=(0.1, 0.0),
            intensity_probs=(0.5, 0.25, 0.25),
            rep_rate_hz=1e8,
        ),
        misalignment_error=0.01,
        ec_efficiency=1.16,
        basis_prob=0.5,
    ),
)

_MICIUS2021 = Preset(
    name="micius2021",
    title="Micius satellite-to-ground decoy-state BB84 with the upgraded 2021 satellite-ground system",
    citation=(
        "Chen et al., Nature 589, 214 (2021), doi:10.1038/s41586-020-03093-8 (abstract read at "
        "http://www.nature.com/uidfinder/10.1038/s41586-020-03093-8)"
    ),
    notes=(
        "Read in Chen et al.'s abstract: two high-speed satellite-to-ground free-space QKD links (Xinglong, Nanshan), "
        "an average secret-key rate of 47.8 kbit/s for a typical satellite pass, more than 40 times the previous "
        "one (Liao et al. 2017: 1.1 kbit/s). The paper's device table could not be read. A secondary summary "
        "(https://docshare.wps.com/document/large-scale-integrated-space-to-ground-quantum-communication-network/"
        "31526) says the upgrade raised the clock rate and used an efficient QKD protocol; the values taken for "
        "them are assumed, not read: 200 MHz (twice micius2017's 100 MHz) and a biased basis choice, 0.8 for the "
        "key basis at both ends: at 200 MHz the bias that gives the most key from one pass as a finite-key block "
        "(a 57-degree pass over Xinglong: 0.5 / 0.7 / 0.8 / 0.9 give 0.50 / 0.93 / 1.04 / 0.36 Mbit), as an operator "
        "would set it; it is not chosen for the 47.8 kbit/s, which the model misses by ~20x. Everything else is "
        "micius2017's (intensities 0.8 / 0.1 / 0, receiver efficiency 0.5, dark counts 3e-7, misalignment 1 %, "
        "f = 1.16: themselves assumed, see that preset). The downlinks' optics are the scenario's. Published figures "
        "alone (Liao et al. 2017's 3,551,136 detections in 273 s at 100 MHz, intensities 0.8 / 0.1 / 0 at 50 / 25 / "
        "25 %, quoted second-hand; Chen et al.'s 47.8 kbit/s) show that the 2021 system had at least 4.15 times 2016's "
        "clock x link transmittance over a pass window like 2016's (key <= single-photon detections <= clock x "
        "transmittance / e); this preset has 2, so the unread upgrade lies in the photons beyond it (the model's "
        "link with it reaches 4.15 only in a pass's culmination second: tests/validation/test_space_ground_2021.py)."
    ),
    devices=replace(
        _MICIUS2017.system,
        source=replace(_MICIUS2017.system.source, rep_rate_hz=2e8),
        basis_prob=0.8,
    ),
)

_MICIUS2017_ENTANGLEMENT = Preset(
    name="micius2017-entanglement",
    title="Micius entangled-pair source and two ground receivers (satellite entanglement distribution, BBM92)",
    citation="Yin et al., Science 356, 1140 (2017); Yin et al., Nature 582, 501 (2020)",
    notes=(
        "A 405 nm-pumped SPDC source of polarisation-entangled 810 nm pairs (read: Yin 2020, first page). Its "
        "brightness, 5.9e6 pairs/s, is recalled from Yin 2017 and not read; the coincidence window 2.5 ns (so "
        "4e8 windows/s and 0.01475 pairs per window), the receivers' efficiency 0.5 (detectors and receiving "
        "optics), their dark counts (100 Hz per detector: 2.5e-7 per window) and f = 1.16 are qinternet's "
        "assumptions, not published values. The misalignment, 7.3 %, is derived from the published QBER of the "
        "2017 distribution (about 8.1 %, Yin 2020 p. 503) less the 0.8 % that accidental coincidences add in "
        "the micius-entanglement-1200km scenario: it stands for the source's imperfect entanglement and the "
        "polarisation reference between satellite and stations. The downlinks' optics are the scenario's."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.0),
        detector=DetectorParams(efficiency=0.5, dark_count_prob=2.5e-7),
        source=WcpSourceParams(signal_intensity=0.5, rep_rate_hz=4e8),  # unused: BBM92 runs on the pair source
        spdc=SpdcSourceParams(mean_pair_number=0.01475, statistics=PairStatistics.THERMAL, rep_rate_hz=4e8),
        misalignment_error=0.073,
        ec_efficiency=1.16,
        basis_prob=0.5,
    ),
)

_BOARON2018 = Preset(
    name="boaron2018",
    title="Geneva 2.5 GHz time-bin QKD over 421 km of ultralow-loss fibre (SNSPDs)",
    citation=(
        "Boaron et al., PRL 121, 190502 (2018), arXiv:1807.03222 (abstract read at "
        "https://www.groundai.com/project/secure-quantum-key-distribution-over-421-km-of-optical-fiber/)"
    ),
    notes=(
        "Read in the paper's abstract: 2.5 GHz repetition rate, a three-state time-bin protocol with one decoy, "
        "superconducting single-photon detectors, ultralow-loss fibre, key at up to 421 km and 6.5 bit/s over "
        "405 km (APS Physics 11, 111 (2018) adds: the previous record was 404 km of MDI-QKD). Assumed, not "
        "read (the paper's parameter table could not be read): fibre 0.17 dB/km, Bob's efficiency 0.2 "
        "(detectors and receiver optics), dark counts 0.1 Hz per detector (4e-11 per 400 ps slot), "
        "misalignment 0.5 %, f = 1.16. qinternet models it as decoy BB84 with a vacuum-like weakest decoy "
        "(Lim et al. 2014), not the three-state one-decoy protocol; the intensities, probabilities and basis "
        "choice are re-optimised per block."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.17),
        detector=DetectorParams(efficiency=0.2, dark_count_prob=0.1 / 2.5e9),
        source=WcpSourceParams(
            signal_intensity=0.5,
            decoy_intensities=(0.1, 0.0002),
            intensity_probs=(0.7, 0.2, 0.1),
            rep_rate_hz=2.5e9,
        ),
        misalignment_error=0.005,
        ec_efficiency=1.16,
        basis_prob=0.9,
    ),
)

_TOSHIBA2018 = Preset(
    name="toshiba2018",
    title="Toshiba 10 Mb/s decoy-BB84 system (self-differencing InGaAs APDs, phase encoding)",
    citation=(
        "Yuan et al., J. Lightwave Technol. 36, 3427 (2018), arXiv:1807.04484 (abstract read at "
        "https://ar5iv.org/html/1807.04484); field link: Dixon et al., Opt. Express 23, 7583 (2015)"
    ),
    notes=(
        "Read in Yuan et al.'s abstract: an efficient decoy-state BB84 with phase encoding in asymmetric "
        "Mach-Zehnder interferometers, self-differencing InGaAs avalanche photodiodes, data sets of 1e8 bits, "
        "13.72 Mb/s of secure key over a 2 dB channel averaged over 4.4 days. Read in Dixon et al.'s abstract (the "
        "earlier Toshiba prototype in Tokyo): around 300 kbit/s sustained over a 45 km installed fibre for 34 days "
        "(878 Gbit), finite-key decoy analysis with eps = 1e-10. Assumed, not read: 1 GHz clock, detector "
        "efficiency 0.25 (with Bob's optics), dark counts 1e-6 per gate, after-pulses 4 %, no dead time, "
        "misalignment 2 %, f = 1.16, fibre 0.2 dB/km; intensities and basis bias are re-optimised per block."
    ),
    devices=QkdSystem(
        fibre=FibreParams(loss_db_per_km=0.2),
        detector=DetectorParams(efficiency=0.25, dark_count_prob=1e-6, after_pulse_prob=0.04),
        source=WcpSourceParams(
            signal_intensity=0.5,
            decoy_intensities=(0.1, 0.001),
            intensity_probs=(0.8, 0.1, 0.1),
            rep_rate_hz=1e9,
        ),
        misalignment_error=0.02,
        ec_efficiency=1.16,
        basis_prob=0.9,
    ),
)

_YIN2016 = Preset(
    name="yin2016",
    title="MDI-QKD over 404 km of ultralow-loss fibre (and 311 km of standard fibre)",
    citation=YIN2016.citation,
    notes="Published: " + "; ".join(YIN2016.published) + ". Assumed: " + "; ".join(YIN2016.assumed) + ".",
    devices=YIN2016,
)

_LIU2023 = Preset(
    name="liu2023",
    title="Twin-field QKD (SNS with AOPP) over 1,002 km of fibre",
    citation=LIU2023.citation,
    notes=LIU2023.notes,
    devices=LIU2023,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _GYS2004,
        _LIM2014,
        _MICIUS2017,
        _MICIUS2021,
        _MICIUS2017_ENTANGLEMENT,
        _BOARON2018,
        _TOSHIBA2018,
        _YIN2016,
        _LIU2023,
    )
}

FAMILY_DEFAULTS: dict[type, str] = {QkdSystem: "gys2004", MdiDeviceSet: "yin2016", TwinFieldDeviceSet: "liu2023"}
"""The preset whose devices a protocol family takes where another family's preset has none of its own."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a :class:`ParameterError` naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError("preset", f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def devices_for(family: type, preset_name: str) -> tuple[DeviceSet, str]:
    """The devices of family ``family`` (a device-set type) for the preset ``preset_name``, and a label.

    The preset's own devices when they are of that family (label: the preset's name); otherwise the
    family's default set (:data:`FAMILY_DEFAULTS`) with the preset's fibre, detectors, misalignment and
    error correction (:class:`~qinternet.params.devicesets.SharedRoles`), labelled e.g.
    ``"gys2004 sources, liu2023 fibre and detectors"``. The relays' models (MDI, twin-field) have no after-pulses
    or dead time: detectors that have them (``lim2014``'s) are taken without, and the label says so.
    """
    preset = get_preset(preset_name)
    if isinstance(preset.devices, family):
        return preset.devices, preset.name
    default = get_preset(FAMILY_DEFAULTS[family])
    roles = shared_roles(preset.devices)
    label = f"{default.name} sources, {preset.name} fibre and detectors"
    detector = roles.detector
    if family is not QkdSystem and (detector.after_pulse_prob > 0.0 or detector.dead_time_s > 0.0):
        roles = replace(roles, detector=replace(detector, after_pulse_prob=0.0, dead_time_s=0.0))
        label += " (without after-pulses and dead time: not modelled at a relay)"
    return with_shared_roles(default.devices, roles), label
