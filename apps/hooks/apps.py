from django.apps import AppConfig


class HooksConfig(AppConfig):
    """Server-side code (hooks, routes, cron, tasks), jobs, webhooks and the audit log:
    above records (it runs around their writes), below nothing."""

    name = "apps.hooks"
    label = "baas_hooks"

    def ready(self) -> None:
        # Celery signal receivers and the tasks every worker must know
        from apps.hooks import dispatch, jobs, loader, schedules  # noqa: F401

        loader.load()
