"""``python -m analysis ...``: the analyses without the dashboard."""

import sys

from analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
