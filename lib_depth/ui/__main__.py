"""`python -m lib_depth.ui`: the Depth Tools tab on http://127.0.0.1:7870, without a WebUI."""

import sys

from .app import main

sys.exit(main())
