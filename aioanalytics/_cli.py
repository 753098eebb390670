"""The ``aioanalytics`` command: entry point for ``[project.scripts]`` and ``python -m``.

The commands need the ``cli`` extra (Click and Rich), and ``serve`` and ``demo`` the
``server`` extra as well; without them the command says which extra to install, instead of
a traceback. The commands themselves live in :mod:`aioanalytics._commands`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_MISSING_EXTRA = (
    "The aioanalytics command needs the 'cli' extra, which is not installed ({missing}).\n"
    "Install it with: pip install 'aioanalytics[cli]'\n"
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``aioanalytics`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError as exc:
        sys.stderr.write(_MISSING_EXTRA.format(missing=f"no module named {exc.name!r}"))
        raise SystemExit(1) from None

    from ._commands import cli

    cli.main(args=list(argv) if argv is not None else None, prog_name="aioanalytics")
