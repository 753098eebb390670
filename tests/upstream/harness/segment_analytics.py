"""Installed as ``segment/analytics/__init__.py``: ``segment.analytics`` is aioanalytics.compat.

``segment.analytics.client.Client`` is compat's ``Client`` and ``segment.analytics.version``
carries ``VERSION``, the two other modules the upstream tests of the public API import.
"""

import sys
import types

import aioanalytics
from aioanalytics import compat

client = types.ModuleType("segment.analytics.client")
client.Client = compat.Client  # type: ignore[attr-defined]
version = types.ModuleType("segment.analytics.version")
version.VERSION = aioanalytics.__version__  # type: ignore[attr-defined]
sys.modules["segment.analytics.client"] = client
sys.modules["segment.analytics.version"] = version
sys.modules[__name__] = compat
