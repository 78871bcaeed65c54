"""``python -m hf3fs``: the command-line interface."""

from .cli import main

raise SystemExit(main())
