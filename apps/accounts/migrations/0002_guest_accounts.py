"""Guest accounts: `email` becomes nullable (guests have none) and `is_guest` is added.

`baas_users` is also the `users` collection's table, so it may hold columns that app teams
added through the schema API and that no migration knows about. Django's SQLite schema
editor makes both changes by rebuilding the table from the migration state, which would
drop those columns with their data. On SQLite the changes are therefore made in SQL that
keeps every column: ADD COLUMN for the flag, and for the email a rebuild from the table's
own stored definition with only the NOT NULL of `email` removed. Other databases alter in
place and use Django's schema editor.
"""

from __future__ import annotations

import re

from django.db import migrations, models

TABLE = "baas_users"
EMAIL_NOT_NULL = re.compile(r'("email"\s+varchar\(254\)\s+)NOT NULL', re.IGNORECASE)
EMAIL_NULL = re.compile(r'("email"\s+varchar\(254\)\s+)NULL', re.IGNORECASE)


def _email_field(null: bool) -> models.EmailField:
    field = models.EmailField(unique=True, max_length=254, null=null, blank=null)
    field.set_attributes_from_name("email")
    return field


def _guest_field() -> models.BooleanField:
    field = models.BooleanField(default=False)
    field.set_attributes_from_name("is_guest")
    return field


def _sqlite_rebuild(schema_editor, pattern: re.Pattern, replacement: str) -> None:
    """Rebuild the table from its stored definition with one change (SQLite's documented
    12-step procedure; foreign keys are off inside the migration's schema editor)."""
    cursor = schema_editor.connection.cursor()
    cursor.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE]
    )
    (definition,) = cursor.fetchone()
    changed, count = pattern.subn(replacement, definition)
    if count != 1:
        raise RuntimeError(f"Unexpected definition of {TABLE}: {definition}")
    prefix = f'CREATE TABLE "{TABLE}"'
    if not changed.startswith(prefix):
        raise RuntimeError(f"Unexpected definition of {TABLE}: {definition}")
    temporary = f"new__{TABLE}"
    cursor.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
        "AND sql IS NOT NULL",
        [TABLE],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(f'PRAGMA table_info("{TABLE}")')
    columns = ", ".join(f'"{row[1]}"' for row in cursor.fetchall())
    cursor.execute(f'CREATE TABLE "{temporary}"' + changed[len(prefix) :])
    cursor.execute(
        f'INSERT INTO "{temporary}" ({columns}) SELECT {columns} FROM "{TABLE}"'
    )
    cursor.execute(f'DROP TABLE "{TABLE}"')
    cursor.execute(f'ALTER TABLE "{temporary}" RENAME TO "{TABLE}"')
    for index in indexes:
        cursor.execute(index)


def forwards(apps, schema_editor) -> None:
    user = apps.get_model("accounts", "User")
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" ADD COLUMN "is_guest" bool NOT NULL DEFAULT 0'
        )
        _sqlite_rebuild(schema_editor, EMAIL_NOT_NULL, r"\1NULL")
        return
    guest, email = _guest_field(), _email_field(True)
    guest.model = email.model = user
    schema_editor.add_field(user, guest)
    schema_editor.alter_field(user, user._meta.get_field("email"), email)


def backwards(apps, schema_editor) -> None:
    user = apps.get_model("accounts", "User")
    if user.objects.filter(email__isnull=True).exists():
        raise RuntimeError("Guest accounts exist: delete or upgrade them first.")
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" DROP COLUMN "is_guest"')
        _sqlite_rebuild(schema_editor, EMAIL_NULL, r"\1NOT NULL")
        return
    nullable, required, guest = _email_field(True), _email_field(False), _guest_field()
    nullable.model = required.model = guest.model = user
    schema_editor.alter_field(user, nullable, required)
    schema_editor.remove_field(user, guest)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="user",
                    name="is_guest",
                    field=models.BooleanField(default=False),
                ),
                migrations.AlterField(
                    model_name="user",
                    name="email",
                    field=models.EmailField(
                        blank=True, max_length=254, null=True, unique=True
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
