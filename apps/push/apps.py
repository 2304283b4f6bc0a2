from django.apps import AppConfig


class PushConfig(AppConfig):
    """Push notifications: devices, topics, messages and their per-device deliveries
    through FCM, APNs and Web Push. Above records and accounts; below nothing."""

    name = "apps.push"
    label = "baas_push"

    def ready(self) -> None:
        from apps.push import providers, sending  # noqa: F401  (tasks, signal receivers)
