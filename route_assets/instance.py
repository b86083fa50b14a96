"""The persistent Dagster instance the CLI, `make demo` and `make ui` share."""

import os
import shutil
from pathlib import Path

import dagster as dg

from route_assets import settings

# Used when the project's dagster.yaml is not beside the working directory (an installed CLI).
FALLBACK_CONFIG = "telemetry:\n  enabled: false\n"


def persistent_instance() -> dg.DagsterInstance:
    """The instance under DAGSTER_HOME (default var/dagster), created with the project's
    dagster.yaml on first use."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        project = Path("dagster.yaml")
        if project.is_file():
            shutil.copyfile(project, config)
        else:
            config.write_text(FALLBACK_CONFIG, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()
