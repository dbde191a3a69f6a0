"""Links of every kind behind one contract (:mod:`.base`), found by kind in :mod:`.registry`."""
