"""`python -m listener.cli`, the same as `listener`."""

from listener.cli.app import main

main()
