"""Console pages for the later features: files, push, jobs, webhooks, realtime, audit,
settings (one module each)."""

urlpatterns: list = []
