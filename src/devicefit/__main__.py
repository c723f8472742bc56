"""Entry point for ``python -m devicefit``."""

from devicefit.cli import main

main()
