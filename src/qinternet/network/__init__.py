"""Quantum networks: topology, links, key relay, routing and satellite passes."""
