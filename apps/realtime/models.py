from django.db import models


class Channel(models.Model):
    """Which realtime channels exist and who may use them (API.md "Realtime")."""

    #: exact (`lobby`) or a prefix ending in `*` (`room-*`)
    name = models.CharField(max_length=100, unique=True)
    subscribe_rule = models.TextField(null=True, blank=True, default=None)
    publish_rule = models.TextField(null=True, blank=True, default=None)
    presence = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "baas_channels"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
