"""Classical post-processing: sifting, verification, privacy amplification and authentication.

Error correction (Cascade, LDPC), finite-key parameter estimation and the whole pipeline are the next
steps (issue 4); the stages here are complete and tested on their own.
"""

from qinternet.postprocessing.authentication import KeyPool, WegmanCarter
from qinternet.postprocessing.privacy import toeplitz_hash, toeplitz_seed_bits
from qinternet.postprocessing.sifting import SiftedKey, sift
from qinternet.postprocessing.verification import VerificationResult, hashes_needed, verify_keys

__all__ = [
    "KeyPool",
    "SiftedKey",
    "VerificationResult",
    "WegmanCarter",
    "hashes_needed",
    "sift",
    "toeplitz_hash",
    "toeplitz_seed_bits",
    "verify_keys",
]
