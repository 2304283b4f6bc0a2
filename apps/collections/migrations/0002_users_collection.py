"""The built-in `users` auth collection, backed by accounts.User's table."""

from django.db import migrations

OWN = "id = @request.auth.id"


def create_users_collection(apps, schema_editor):
    Collection = apps.get_model("baas_collections", "Collection")
    Collection.objects.get_or_create(
        id="users",
        defaults={
            "name": "users",
            "name_key": "users",
            "type": "auth",
            "table": "baas_users",
            "system": True,
            "rules": {"list": OWN, "view": OWN, "create": None, "update": OWN, "delete": None},
            "indexes": [],
        },
    )


def drop_users_collection(apps, schema_editor):
    apps.get_model("baas_collections", "Collection").objects.filter(id="users").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("baas_collections", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_users_collection, drop_users_collection)]
