"""Every public name has a docstring: the API reference is generated from them."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest

PUBLIC_MODULES = [
    "aioanalytics",
    "aioanalytics.compat",
    "aioanalytics.destinations",
    "aioanalytics.destinations.mixpanel",
    "aioanalytics.destinations.segment",
    "aioanalytics.destinations.trakio",
    "aioanalytics.otel",
    "aioanalytics.plan",
    "aioanalytics.pytest_plugin",
    "aioanalytics.sync",
    "aioanalytics.testing",
    "aioanalytics.web",
    "aioanalytics.web.aiohttp",
    "aioanalytics.web.asgi",
    "aioanalytics.web.django",
    "aioanalytics.web.fastapi",
    "aioanalytics.web.starlette",
]


def _public_names() -> Iterator[str]:
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        yield module_name
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # values and aliases: documented where they are defined
            yield f"{module_name}.{name}"
            if inspect.isclass(obj):
                for attribute, value in vars(obj).items():
                    function = value.fget if isinstance(value, property) else value
                    function = getattr(function, "__func__", function)
                    if not attribute.startswith("_") and inspect.isfunction(function):
                        yield f"{module_name}.{name}.{attribute}"


def _resolve(path: str) -> object:
    for split in range(path.count(".") + 1, 0, -1):
        module_name, *rest = path.rsplit(".", path.count(".") + 1 - split)
        try:
            obj: object = importlib.import_module(module_name)
        except ImportError:
            continue
        for part in rest:
            obj = inspect.getattr_static(obj, part)
            obj = getattr(obj, "fget", None) or getattr(obj, "__func__", obj)
        return obj
    raise LookupError(path)  # pragma: no cover


@pytest.mark.parametrize("path", sorted(set(_public_names())))
def test_public_name_has_a_docstring(path: str) -> None:
    """The public module, class, function, method or property has its own docstring."""
    obj = _resolve(path)
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", "")
    assert (doc or "").strip(), f"{path} has no docstring"
