"""Every stored object has a row here, written before the object itself.

The row is `pending` until the record write that attaches it commits (`attached`); a
record delete or a replaced file marks it `deleting`, and the object goes after commit.
A crash at any point leaves a `pending` or `deleting` row, which the cleanup job
(apps.files.tasks.cleanup) finishes: no object is ever stored without a row, and no
record ever names a file whose row says anything but `attached`.
"""

from __future__ import annotations

from django.db import models

from apps.core.ids import new_id


class StoredFile(models.Model):
    PENDING = "pending"
    ATTACHED = "attached"
    DELETING = "deleting"

    id = models.CharField(primary_key=True, max_length=15, default=new_id)
    collection_id = models.CharField(max_length=15)
    record_id = models.CharField(max_length=15)
    field_id = models.CharField(max_length=15)
    #: the name the record holds: sanitised original name + random suffix
    name = models.CharField(max_length=255)
    #: where the object lives in storage: <collection id>/<record id>/<name>
    key = models.CharField(max_length=600, unique=True)
    size = models.BigIntegerField(default=0)
    #: judged from the bytes (libmagic), never from the name or the client
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    state = models.CharField(max_length=10, default=PENDING)
    #: direct uploads: the size the client declared, and who may complete it
    declared_size = models.BigIntegerField(null=True)
    uploader = models.CharField(max_length=40, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "baas_stored_file"
        constraints = [
            models.UniqueConstraint(
                fields=["collection_id", "record_id", "name"],
                name="baas_stored_file_record_name",
            )
        ]
        indexes = [models.Index(fields=["state", "updated"])]
