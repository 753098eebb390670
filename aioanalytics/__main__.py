"""``python -m aioanalytics``: the same command line as ``aioanalytics``."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    main()
