#!/usr/bin/env python3
"""omnilive: an assistant that sees and talks. See README.md."""

from omnilive.cli import entry

if __name__ == "__main__":
    entry()
