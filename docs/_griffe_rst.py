"""A griffe extension: render the reST bits of our docstrings as Markdown for mkdocstrings.

The docstrings are Google style with a few Sphinx habits: cross-reference roles
(:class:`~aioanalytics.Delivery`), ``Usage::`` literal blocks and ``.. versionadded::``.
References into ``aioanalytics`` become links (a missing target then fails the strict build);
others become code spans.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj):`(~?)([\w.]+)(\(\))?`")
_VERSION = re.compile(
    r"^(\s*)\.\. (versionadded|versionchanged|deprecated):: *(\S+)\s*$", re.MULTILINE
)
_LABELS = {"versionadded": "Added", "versionchanged": "Changed", "deprecated": "Deprecated"}


def _role(match: re.Match[str]) -> str:
    short, target, call = match.group(1), match.group(2), match.group(3) or ""
    shown = target.rsplit(".", 1)[-1] if short else target
    if target.startswith("aioanalytics."):
        return f"[`{shown}{call}`][{target}]"
    return f"`{shown}{call}`"


def _version(match: re.Match[str]) -> str:
    indent, kind, version = match.groups()
    return f"{indent}*{_LABELS[kind]} in version {version}.*"


def convert(text: str) -> str:
    """Rewrite roles, ``::`` literal-block openers and version directives."""
    text = _ROLE.sub(_role, text)
    text = _VERSION.sub(_version, text)
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.MULTILINE)


class RstToMarkdown(griffe.Extension):
    """Convert each docstring once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
