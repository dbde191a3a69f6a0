"""``python -m qinternet`` runs the CLI."""

from qinternet.cli.entry import main

if __name__ == "__main__":  # not when a process started by spawn (Dask's workers) imports the main module again
    main()
