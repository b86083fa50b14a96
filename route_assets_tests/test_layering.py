"""Providers and image code never import Dagster: they must stay usable (and testable) without
the orchestrator, and importing them must not pay for Dagster's import time."""

import pkgutil
import subprocess
import sys

import route_assets.imaging
import route_assets.providers

PURE_PACKAGES = (route_assets.imaging, route_assets.providers)


def _modules() -> list[str]:
    return [
        f"{package.__name__}.{info.name}"
        for package in PURE_PACKAGES
        for info in pkgutil.iter_modules(package.__path__)
    ]


def test_pure_packages_import_without_dagster() -> None:
    modules = _modules()
    assert len(modules) > 10
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    assert 'dagster' not in sys.modules, name + ' pulled in dagster'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
