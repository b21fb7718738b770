"""`python -m sftkit ...`: the `sftkit` command where no script is on the PATH (Windows, no make, a bare venv)."""
import sys

from .cli import main

sys.exit(main())
