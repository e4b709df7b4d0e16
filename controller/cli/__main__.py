"""``python -m controller.cli``: the same as ``failoverctl``."""

import sys

from controller.cli.main import main

sys.exit(main())
