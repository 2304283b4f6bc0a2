from django.apps import AppConfig


class RecordsConfig(AppConfig):
    """The data side: record services, lists, expand, change log, batch and their views."""

    name = "apps.records"
    label = "baas_records"
