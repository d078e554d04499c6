#!/usr/bin/env python3
"""omnilive: an assistant that sees and talks. See README.md."""

import sys

from assistant.cli import main

if __name__ == "__main__":
    sys.exit(main())
