"""What the two commands (``python -m kb``, ``python -m ingest``) share in reading their arguments."""
from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (not the usage block first): the value and what
    to do, like every other error of the command line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")
