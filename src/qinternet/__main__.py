"""``python -m qinternet`` runs the CLI."""

from qinternet.cli.app import main

main()
