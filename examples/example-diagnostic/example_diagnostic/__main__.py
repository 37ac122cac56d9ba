"""``python3 -m example_diagnostic``."""

import sys

from example_diagnostic.cli import main

if __name__ == "__main__":
    sys.exit(main())
