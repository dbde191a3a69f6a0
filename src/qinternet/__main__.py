"""``python -m qinternet`` runs the CLI."""

from qinternet.cli.entry import main

main()
