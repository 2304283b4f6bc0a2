"""Django's SQLite backend with queued writers (see base.py); ENGINE = "apps.core.sqlite"."""
