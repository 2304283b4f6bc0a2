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
    """A server process has imported its application (the `baas` commands' servers only):
    do now what its first requests would otherwise pay for, then keep everything
    allocated so far out of the garbage collector's way (`gc.freeze`).

    - The URLconf and with it every view; every collection's spec and model, and the
      rule parser's lexer (apps.collections.services.warm_up): about 20 ms on a first
      record request here, which landed on a few unlucky requests per process.
    - Django and the apps leave about 140,000 objects behind at start-up; without the
      freeze every full collection walks them all, a 60 ms pause on this stack.
    - On the embedded database, WAL checkpoints move to a background thread
      (apps/core/sqlite/checkpoint.py).
    """
    if os.environ.get(ENV_FLAG) != "1":
        return
    import gc
    import logging

    from django.db import connections
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # imports the URLconf and every view
    try:
        from apps.collections.services import warm_up

        warm_up()
    except Exception:  # no database yet, say: the first requests do it then
        logging.getLogger(__name__).debug("warm-up skipped", exc_info=True)
    finally:
        connections.close_all()  # requests run on threads with their own connections
    from apps.core.sqlite import checkpoint

    checkpoint.start()
    gc.collect()
    gc.freeze()
