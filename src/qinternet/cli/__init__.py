"""The ``qinternet`` command line (Typer + Rich)."""
