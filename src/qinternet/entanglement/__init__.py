"""Entanglement between quantum memories: pure array functions for purification, swapping, cut-offs and repeater
chains compiled into samplers.

- :mod:`.purification`: BBPSSW and DEJMPS on Bell-diagonal pairs, recurrence and pumping schedules.
- :mod:`.chain`: a chain of elementary links as a tree of swaps and purifications, sampled round by round
  (vectorised over rounds: geometric attempt counts, never a step per attempt).
- :mod:`.abstract` and :mod:`.analytic`: the abstract chain of Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020)
  (arXiv:1912.07688) with the memory cut-off of Li, Coopmans, Elkouss, IEEE Trans. Quantum Eng. 2 (2021)
  (arXiv:2005.04946), computed exactly or sampled.
"""

from __future__ import annotations

from qinternet.entanglement.abstract import AbstractChainParams, AbstractChainResult, run_abstract_chain

__all__ = ["AbstractChainParams", "AbstractChainResult", "run_abstract_chain"]
