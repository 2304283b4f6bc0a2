from django.apps import AppConfig


class CollectionsConfig(AppConfig):
    name = "apps.collections"
    label = "baas_collections"

    def ready(self) -> None:
        from apps.collections import field_types

        field_types.load_builtin_types()
