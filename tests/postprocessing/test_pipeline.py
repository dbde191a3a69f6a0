"""The whole post-processing round: identical keys, honest accounting, aborts with reasons."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.postprocessing.ldpc import ldpc_plan
from qinternet.postprocessing.pipeline import ErrorCorrection, PipelineAbort, PipelineParams, postprocess
from qinternet.qkd.attacks import InterceptResend
from qinternet.qkd.bounds import plob_bound
from qinternet.qkd.montecarlo import compile_link, simulate_link
from qinternet.qkd.observables import link_transmittance
from qinternet.qkd.record import DetectionRecord


def record_of(system: QkdSystem, distance: float, pulses: int, seed: int, attack: object = None) -> DetectionRecord:
    sampler = compile_link(system, fibre_channel(system.fibre, distance), attack)  # type: ignore[arg-type]
    return DetectionRecord.concatenate(list(simulate_link(sampler, pulses, np.random.default_rng(seed))))


@pytest.fixture(scope="module")
def lim_round() -> tuple[QkdSystem, DetectionRecord]:
    from qinternet.params import get_preset

    system = get_preset("lim2014").system
    return system, record_of(system, 20.0, 2 * 10**8, 1)


def test_a_round_gives_identical_keys_and_honest_accounting(lim_round: tuple[QkdSystem, DetectionRecord]) -> None:
    system, record = lim_round
    result = postprocess(record, system, PipelineParams(frame_bits=1 << 14), np.random.default_rng(2))
    assert not result.aborted, result.abort_reason
    assert result.final_key_bits > 0
    np.testing.assert_array_equal(result.alice_key, result.bob_key)
    assert result.alice_key.shape == (result.final_key_bits,)
    assert result.final_key_bits == result.pa_output_bits - result.auth_bits_consumed
    assert result.verification_ok
    assert result.sifted_bits == result.key_basis_bits + result.test_basis_bits
    # Cascade discloses more than the Shannon limit but not much more (f <= 1.2 at ~2 % QBER).
    assert result.ec_efficiency is not None
    assert 1.0 < result.ec_efficiency < 1.2
    assert result.bounds is not None
    assert result.bounds.ec_leak_bits == result.ec_leak_bits
    # Never more secret key than the repeaterless bound allows for the pulses sent.
    eta = float(link_transmittance(system, fibre_channel(system.fibre, 20.0))) / system.detector.efficiency
    assert result.final_key_bits <= record.pulses * float(plob_bound(eta))
    # Key material stays out of reprs and dicts.
    assert "alice_key" not in result.to_dict()
    assert str(result.final_key_bits) in repr(result)
    assert "bob_key" not in repr(result)


def test_an_ldpc_round_gives_identical_keys_and_leaks_the_syndromes(
    lim_round: tuple[QkdSystem, DetectionRecord],
) -> None:
    system, record = lim_round
    params = PipelineParams(ec=ErrorCorrection.LDPC)
    result = postprocess(record, system, params, np.random.default_rng(2))
    assert not result.aborted, result.abort_reason
    np.testing.assert_array_equal(result.alice_key, result.bob_key)
    assert result.final_key_bits == result.pa_output_bits - result.auth_bits_consumed > 0
    assert result.ec_round_trips == 1
    # The leak is the plan's (syndromes less punctured bits), fixed by the public QBER estimate alone,
    # for the key-basis bits cut into equal verification frames.
    frames = max(1, round(result.key_basis_bits / params.frame_bits))
    used = frames * (result.key_basis_bits // frames)
    assert result.ec_leak_bits == ldpc_plan(used, result.qber_estimate).leaked_bits
    # Within the measured efficiency of the codes at ~2 % (module docstring: f 1.14 +- 0.02).
    assert result.ec_efficiency is not None
    assert 1.0 < result.ec_efficiency < 1.25


def test_an_ldpc_codeword_that_does_not_decode_aborts_the_round(
    lim_round: tuple[QkdSystem, DetectionRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    import qinternet.postprocessing.pipeline as pipeline

    real = pipeline.ldpc_decode

    def give_up_on_one(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        decoded = real(*args, **kwargs)  # type: ignore[arg-type]
        decoded.converged[0] = False
        return decoded

    monkeypatch.setattr(pipeline, "ldpc_decode", give_up_on_one)
    system, record = lim_round
    result = postprocess(record, system, PipelineParams(ec=ErrorCorrection.LDPC), np.random.default_rng(2))
    assert result.aborted
    assert result.abort_reason == "LDPC decoding failed in 1 codewords"
    assert result.abort_stage is PipelineAbort.ERROR_CORRECTION
    assert result.to_dict()["abort_stage"] == "error-correction-failed"
    assert result.ec_frame_errors == 1
    assert result.final_key_bits == 0
    assert result.alice_key.size == 0


def test_full_intercept_resend_aborts(lim_round: tuple[QkdSystem, DetectionRecord]) -> None:
    system, _ = lim_round
    record = record_of(system, 20.0, 2 * 10**7, 3, InterceptResend(fraction=1.0))
    result = postprocess(record, system, PipelineParams(), np.random.default_rng(4))
    assert result.aborted
    assert result.abort_reason is not None
    assert "QBER" in result.abort_reason
    assert result.abort_stage is PipelineAbort.QBER_TOO_HIGH
    assert result.final_key_bits == 0
    assert result.alice_key.size == 0


@pytest.mark.parametrize(("pulses", "reason"), [(10**5, "block too small"), (10**6, "finite-key")])
def test_too_short_a_block_aborts(lim_round: tuple[QkdSystem, DetectionRecord], pulses: int, reason: str) -> None:
    system, _ = lim_round
    result = postprocess(record_of(system, 20.0, pulses, 5), system, PipelineParams(), np.random.default_rng(6))
    assert result.aborted
    assert result.abort_reason is not None
    assert reason in result.abort_reason


def test_a_frame_that_fails_verification_aborts_the_round(
    lim_round: tuple[QkdSystem, DetectionRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    import qinternet.postprocessing.pipeline as pipeline

    real = pipeline.reconcile_in_process

    def leave_an_error(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        result.corrected_bits[0, 0] ^= 1
        return result

    monkeypatch.setattr(pipeline, "reconcile_in_process", leave_an_error)
    system, record = lim_round
    result = postprocess(record, system, PipelineParams(), np.random.default_rng(2))
    assert result.aborted
    assert result.abort_reason is not None
    assert "verification failed in 1 frames" in result.abort_reason
    assert result.verification_ok is False
    assert result.final_key_bits == 0


def test_security_statement_and_key_material_stay_hidden(lim_round: tuple[QkdSystem, DetectionRecord]) -> None:
    system, record = lim_round
    result = postprocess(record, system, PipelineParams(), np.random.default_rng(2))
    assert 0 < result.auth_failure_prob < 1e-12
    with pytest.raises(ParameterError, match="auth_key"):
        postprocess(record, system, PipelineParams(), np.random.default_rng(2), auth_key=np.zeros(128, np.uint8))


def test_bad_pipeline_parameters_are_refused() -> None:
    with pytest.raises(ParameterError, match="cascade_variant"):
        PipelineParams(cascade_variant="turbo")
    with pytest.raises(ParameterError, match="frame_bits"):
        PipelineParams(frame_bits=8)
    with pytest.raises(ParameterError, match="max_qber"):
        PipelineParams(max_qber=0.0)
    with pytest.raises(ParameterError, match="max_qber"):
        PipelineParams(max_qber=0.6)


def test_pipeline_is_reproducible(lim_round: tuple[QkdSystem, DetectionRecord]) -> None:
    system, record = lim_round
    small = record.select(record.slot < 2 * 10**7)
    small = dataclasses.replace(small, pulses=2 * 10**7)
    a = postprocess(small, system, PipelineParams(), np.random.default_rng(9))
    b = postprocess(small, system, PipelineParams(), np.random.default_rng(9))
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.alice_key, b.alice_key)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    distance=st.floats(min_value=0.0, max_value=60.0),
    pulses=st.sampled_from([3 * 10**6, 2 * 10**7, 10**8]),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_round_properties(distance: float, pulses: int, seed: int) -> None:
    from qinternet.params import get_preset

    system = get_preset("lim2014").system
    result = postprocess(
        record_of(system, distance, pulses, seed), system, PipelineParams(), np.random.default_rng(seed)
    )
    assert result.final_key_bits >= 0
    assert result.pa_output_bits >= 0
    np.testing.assert_array_equal(result.alice_key, result.bob_key)
    eta = float(link_transmittance(system, fibre_channel(system.fibre, distance))) / system.detector.efficiency
    assert result.final_key_bits <= pulses * float(plob_bound(eta))
    assert result.aborted == (result.final_key_bits == 0)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(distance=st.floats(min_value=0.0, max_value=40.0), seed=st.integers(min_value=0, max_value=2**32))
def test_full_intercept_resend_always_aborts(distance: float, seed: int) -> None:
    from qinternet.params import get_preset

    system = get_preset("lim2014").system
    record = record_of(system, distance, 10**7, seed, InterceptResend(fraction=1.0))
    result = postprocess(record, system, PipelineParams(), np.random.default_rng(seed))
    assert result.aborted
    assert result.final_key_bits == 0
