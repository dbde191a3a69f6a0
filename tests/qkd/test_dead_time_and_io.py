"""Dead time against a plain sequential reference, and saving/loading detection records."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinternet.errors import ParameterError
from qinternet.params import QkdSystem
from qinternet.physics.channels import fibre_channel
from qinternet.qkd.montecarlo import apply_dead_time, compile_link, sample_block, simulate_link
from qinternet.qkd.record import DetectionRecord, LinkCounts
from qinternet.qkd.record_io import load_record, save_record


def _record(slots: list[int], pulses: int) -> DetectionRecord:
    n = len(slots)
    zeros = np.zeros(n, dtype=np.int8)
    return DetectionRecord(
        slot=np.array(slots, dtype=np.int64),
        intensity_class=zeros,
        alice_basis=zeros,
        alice_bit=zeros,
        bob_basis=zeros,
        bob_bit=zeros,
        double_click=np.zeros(n, dtype=bool),
        intensities=(0.5,),
        pulses=pulses,
        sent=np.zeros((1, 2, 2), dtype=np.int64),
    )


def _reference(slots: list[int], dead: int) -> list[int]:
    kept: list[int] = []
    for s in slots:
        if not kept or s - kept[-1] > dead:
            kept.append(s)
    return kept


@settings(max_examples=200, deadline=None)
@given(
    slots=st.lists(st.integers(min_value=0, max_value=199), unique=True, max_size=60).map(sorted),
    dead=st.integers(min_value=0, max_value=15),
    split=st.integers(min_value=1, max_value=199),
)
def test_dead_time_matches_sequential_reference_across_blocks(slots: list[int], dead: int, split: int) -> None:
    first = _record([s for s in slots if s < split], split)
    second = _record([s - split for s in slots if s >= split], 200 - split)
    kept_first, carry = apply_dead_time(first, dead)
    kept_second, _ = apply_dead_time(second, dead, carry)
    got = list(kept_first.slot) + [s + split for s in kept_second.slot]
    assert got == _reference(slots, dead)


def test_dead_time_in_the_simulated_link(gys: QkdSystem) -> None:
    # 1 us dead time at 2 MHz = 2 blind slots; with a high click probability some clicks are lost.
    busy = dataclasses.replace(
        gys,
        detector=dataclasses.replace(gys.detector, dead_time_s=1e-6, efficiency=1.0, dark_count_prob=0.01),
    )
    sampler = compile_link(busy, fibre_channel(busy.fibre, 0.0))
    assert sampler.dead_time_slots == 2
    blocks = list(simulate_link(sampler, 10**6, np.random.default_rng(3), block_pulses=300_000))
    whole = DetectionRecord.concatenate(blocks)
    assert np.all(np.diff(whole.slot) > 2)
    raw = sample_block(sampler, 10**6, np.random.default_rng(3))
    assert len(whole) < 0.9 * len(raw)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_records_round_trip(gys: QkdSystem, tmp_path: Path, suffix: str) -> None:
    record = sample_block(compile_link(gys, fibre_channel(gys.fibre, 50.0)), 10**7, np.random.default_rng(5))
    path = tmp_path / f"record{suffix}"
    save_record(record, path)
    loaded = load_record(path)
    for name, column in record.columns().items():
        np.testing.assert_array_equal(loaded.columns()[name], column, err_msg=name)
        assert loaded.columns()[name].dtype == column.dtype
    assert loaded.pulses == record.pulses
    assert loaded.intensities == record.intensities
    np.testing.assert_array_equal(LinkCounts.from_record(loaded).sent, record.sent)


def test_unknown_record_format_is_refused(gys: QkdSystem, tmp_path: Path) -> None:
    record = sample_block(compile_link(gys, fibre_channel(gys.fibre, 50.0)), 1000, np.random.default_rng(5))
    with pytest.raises(ParameterError, match=r"\.npz or \.parquet"):
        save_record(record, tmp_path / "record.txt")
