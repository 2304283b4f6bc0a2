"""Core background tasks."""

from __future__ import annotations

import os
from pathlib import Path

from celery import shared_task
from django.conf import settings


@shared_task(name="baas.core.touch")
def touch(path: str) -> str:
    """Write the worker's pid to `path` (inside the data directory): proof that jobs run."""
    target = Path(path).resolve()
    if not target.is_relative_to(Path(settings.DATA_DIR).resolve()):
        raise ValueError("touch writes inside the data directory only")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, target)
    return str(target)
