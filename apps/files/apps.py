from django.apps import AppConfig


class FilesConfig(AppConfig):
    """File fields: storage, uploads, downloads, thumbnails (above collections and
    records: it registers the `file` field type and serves /api/v1/files/)."""

    name = "apps.files"
    label = "baas_files"

    def ready(self) -> None:
        from apps.files import field_type  # noqa: F401  (registers `file`)
