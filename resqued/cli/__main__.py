"""``python -m resqued.cli``: the same as the ``resqued`` command."""

import sys

from resqued.cli import main

sys.exit(main())
