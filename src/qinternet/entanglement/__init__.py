"""Entanglement between quantum memories: heralded generation, swapping, purification, cut-offs, repeater chains."""
