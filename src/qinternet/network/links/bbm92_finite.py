"""The opt-in finite-key fields shared by the BBM92 link kinds (``entanglement-qkd``, ``dual-downlink``).

With ``finite_key: true`` a block's key is the bound of Tomamichel, Lim, Gisin, Renner, Nat. Commun. 3, 634
(2012), eq. (2) (:mod:`qinternet.qkd.finite_key_bbm92`) with the link's ``eps_sec`` and ``eps_cor``, instead of
the asymptotic fraction: ``test_fraction`` of the sifted bits estimate the error rate (Tomamichel's ``k``) and
the rest are the raw key (``n``). The links' balanced basis choice sifts half the pairs; a ``test_fraction``
below 1/2 stands for a biased choice of bases whose higher sifting is not counted (conservative).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from qinternet.network.schema_base import LinkSpecBase
from qinternet.qkd.finite_key import FiniteKeyParams

__all__ = ["Bbm92FiniteKeyFields"]


class Bbm92FiniteKeyFields(LinkSpecBase):
    """Finite-key fields of a BBM92 link kind (default off: the asymptotic key).

    Attributes:
        finite_key: key per block from Tomamichel et al.'s finite-key bound (module docstring).
        test_fraction: fraction of the sifted bits used for parameter estimation, in (0, 1).
    """

    finite_key: bool = False
    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5

    @property
    def finite_key_params(self) -> FiniteKeyParams | None:
        """The security parameters of the finite-key bound, or None for the asymptotic key."""
        if not self.finite_key:
            return None
        return FiniteKeyParams(eps_sec=self.eps_sec, eps_cor=self.eps_cor)
