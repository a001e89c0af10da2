"""The ``veilproof`` command line (Typer + rich). Nothing imports this package."""
