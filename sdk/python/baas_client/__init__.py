"""Python client for the BaaS REST API: `Client`, `BaasError`."""

from baas_client.auth import Auth
from baas_client.client import Client
from baas_client.errors import BaasError, ErrorItem
from baas_client.records import Page, RecordCollection
from baas_client.schema import Collections, Schema

__all__ = [
    "Auth",
    "BaasError",
    "Client",
    "Collections",
    "ErrorItem",
    "Page",
    "RecordCollection",
    "Schema",
]
__version__ = "0.1.0"
