"""segment-analytics-python's source archive, pinned: downloaded once, checked, cached.

The archive ships the project's own test suite (``segment/analytics/test/``), which
``test_upstream_suite.py`` runs against ``aioanalytics.compat``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["SHA256", "VERSION", "fetch", "upstream_tests"]

VERSION = "2.4.0"
SHA256 = "56184d755aa73415a59e113239f14ff0f98b3bd77b6bfea6c6034a87de561a38"
ARCHIVE = f"segment_analytics_python-{VERSION}.tar.gz"
#: Where the archive is kept between runs (``AIOANALYTICS_UPSTREAM_CACHE`` overrides it).
CACHE = Path(
    os.environ.get("AIOANALYTICS_UPSTREAM_CACHE")
    or Path(tempfile.gettempdir()) / "aioanalytics-upstream"
)


def _pip() -> list[str]:
    """A pip to download with: this interpreter's, uv's, or the one on PATH."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "tool", "run", "--from", "pip", "pip"]
    pip = shutil.which("pip3") or shutil.which("pip")
    if pip is None:
        raise RuntimeError("no pip to download segment-analytics-python with (nor uv)")
    return [pip]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(cache: Path = CACHE) -> Path:
    """The verified archive, downloaded from PyPI with pip on first use."""
    archive = cache / ARCHIVE
    if archive.exists() and _sha256(archive) == SHA256:
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        pinned = Path(tmp) / "requirements.txt"
        pinned.write_text(f"segment-analytics-python=={VERSION} --hash=sha256:{SHA256}\n")
        subprocess.run(
            [
                *_pip(),
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--require-hashes",
                "--dest",
                tmp,
                "-r",
                str(pinned),
            ],
            check=True,
            timeout=300,
        )
        downloaded = Path(tmp) / ARCHIVE
        if _sha256(downloaded) != SHA256:
            raise RuntimeError(f"{ARCHIVE} does not have the pinned sha256 {SHA256}")
        downloaded.replace(archive)
    return archive


def upstream_tests(archive: Path) -> dict[str, str]:
    """The upstream test modules, by file name."""
    prefix = f"segment_analytics_python-{VERSION}/segment/analytics/test/"
    sources = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix(prefix)
            if member.name.startswith(prefix) and name.startswith("test_"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                sources[name] = extracted.read().decode()
    return sources
