"""Entanglement layer: pure array functions for heralded generation, swapping, cut-offs and repeater chains.

So far: the abstract repeater chain of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020) (arXiv:1912.07688),
with the memory cut-off of Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021) (arXiv:2005.04946), and
its two engines (exact and Monte-Carlo).
"""

from __future__ import annotations

from qinternet.entanglement.abstract import AbstractChainParams, AbstractChainResult, run_abstract_chain

__all__ = ["AbstractChainParams", "AbstractChainResult", "run_abstract_chain"]
