"""Collection and field definitions: data from which real tables and models are derived."""

from __future__ import annotations

from django.db import models

from apps.core.ids import new_id

RULE_ACTIONS = ("list", "view", "create", "update", "delete")


class Collection(models.Model):
    BASE = "base"
    AUTH = "auth"
    TYPES = [(BASE, "base"), (AUTH, "auth")]

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    name = models.CharField(max_length=63)
    name_key = models.CharField(max_length=63, unique=True)
    type = models.CharField(max_length=10, choices=TYPES, default=BASE)
    table = models.CharField(max_length=63, unique=True)
    system = models.BooleanField(default=False)
    rules = models.JSONField(default=dict)
    indexes = models.JSONField(default=list)
    schema_version = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "baas_collections"
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def table_for(collection_id: str) -> str:
        return f"c_{collection_id}"


class Field(models.Model):
    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="field_set"
    )
    name = models.CharField(max_length=63)
    name_key = models.CharField(max_length=63)
    type = models.CharField(max_length=20)
    required = models.BooleanField(default=False)
    unique = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    rules = models.JSONField(default=dict)
    options = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "baas_fields"
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "name_key"], name="field_name_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.collection_id}.{self.name}"

    @property
    def column(self) -> str:
        return f"f_{self.id}"

    @property
    def attname(self) -> str:
        return f"f_{self.id}"


class Change(models.Model):
    """One committed write to a record: the change log (DESIGN.md decision 5).

    Ordered by (`txid`, `seq`), not by `seq` alone: on PostgreSQL a transaction can take
    a lower `seq` and commit after one with a higher `seq` (apps.records.changelog).
    """

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    #: Rows written before creates and updates were told apart; read as updates.
    UPSERT = "upsert"

    seq = models.BigAutoField(primary_key=True)
    collection_id = models.CharField(max_length=15)
    record_id = models.CharField(max_length=15)
    op = models.CharField(max_length=6)
    #: The writing transaction's id (PostgreSQL xid8); 0 on SQLite, whose writers are
    #: serialised, so that `seq` order is commit order there.
    txid = models.BigIntegerField(default=0)
    #: Deletes only: the row just before it was deleted, to test view rules on later.
    snapshot = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "baas_changes"
        indexes = [
            models.Index(
                fields=["collection_id", "txid", "seq"], name="baas_changes_position"
            ),
            models.Index(
                fields=["collection_id", "record_id"], name="baas_changes_record"
            ),
            # Realtime reads every collection's changes in order (apps.realtime).
            models.Index(fields=["txid", "seq"], name="baas_changes_order"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.op} {self.collection_id}/{self.record_id} @{self.txid}.{self.seq}"
        )


class PrunedChanges(models.Model):
    """The newest position whose tombstones were pruned, per collection: a sync token
    before it may have missed a delete (410 resync_required)."""

    collection_id = models.CharField(max_length=15, primary_key=True)
    txid = models.BigIntegerField()
    seq = models.BigIntegerField()

    class Meta:
        db_table = "baas_changes_pruned"

    def __str__(self) -> str:
        return f"{self.collection_id} pruned to {self.txid}.{self.seq}"
