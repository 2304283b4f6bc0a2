from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        from apps.collections import schema_io
        from apps.realtime import bus, channels

        bus.connect_signals()
        schema_io.SECTIONS["channels"] = (
            channels.export_channels,
            channels.import_channels,
        )
