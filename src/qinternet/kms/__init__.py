"""Key management: Key Management Entities serving keys over ETSI GS QKD 014, on a real database."""
