"""The built-in `users` auth collection, backed by accounts.User's table."""

from django.db import migrations

from apps.collections.bootstrap import USERS_ID, ensure_users_collection


def create_users_collection(apps, schema_editor):
    ensure_users_collection(apps.get_model("baas_collections", "Collection"))


def drop_users_collection(apps, schema_editor):
    apps.get_model("baas_collections", "Collection").objects.filter(
        id=USERS_ID
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("baas_collections", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_users_collection, drop_users_collection)]
