"""Alembic migrations of the key store's schema (``upgrade`` runs them; :class:`..store.KeyStore` calls it)."""
