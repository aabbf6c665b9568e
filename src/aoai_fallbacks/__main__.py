"""`python -m aoai_fallbacks` runs the command line."""

import sys

from aoai_fallbacks._cli import main

sys.exit(main())
