"""Processes die with their supervisor: no `baas` process is ever orphaned (Linux)."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
#: set by the `baas` supervisor for its children; their own server workers read it
ENV_FLAG = "BAAS_DIE_WITH_PARENT"


def _load_prctl():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved at import, not in a forked child: dlopen() after fork() can deadlock.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """Get SIGTERM when the parent process dies."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def worker_started() -> None:
    """In a server's worker process (granian forks its own): die with the server process
    too, and stop at once if it is already gone."""
    if os.environ.get(ENV_FLAG) != "1":
        return
    die_with_parent()
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def application_loaded() -> None:
    """A server process has imported its application: import what the first request
    would (the URLconf and with it every view), then keep everything allocated so far
    out of the garbage collector's way (`gc.freeze`). Django and the apps leave about
    140,000 objects behind at start-up; without this, every full collection walks them
    all, a 60 ms pause on this stack that lands on some unlucky request or event."""
    import gc

    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # imports the URLconf and every view
    gc.collect()
    gc.freeze()
