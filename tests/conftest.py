"""Shared fixtures."""

from __future__ import annotations

import pytest

from qinternet.params import QkdSystem, get_preset


@pytest.fixture
def gys() -> QkdSystem:
    """The GYS set-up of Ma et al. (2005), Table I."""
    return get_preset("gys2004").system


@pytest.fixture
def lim() -> QkdSystem:
    """The set-up of Lim et al. (2014), Sec. IV."""
    return get_preset("lim2014").system
