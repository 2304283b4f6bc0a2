"""Python client for the BaaS REST API and realtime: `Client`, `BaasError`."""

from baas_client._multipart import FileValue
from baas_client.auth import Auth, AuthResult
from baas_client.client import ApiResponse, BatchResponse, Client, new_idempotency_key
from baas_client.errors import BaasError, ErrorItem
from baas_client.files import Files
from baas_client.push import (
    MessagePage,
    Push,
    PushDevice,
    PushMessage,
    PushNotification,
    PushResult,
    PushTarget,
    TopicSubscription,
)
from baas_client.realtime import (
    Channel,
    ChannelMessage,
    PresenceChange,
    Realtime,
    RealtimeEvent,
    RealtimeState,
    Subscription,
)
from baas_client.records import (
    BatchOperation,
    Change,
    ChangesPage,
    Page,
    RecordCollection,
    VersionedRecord,
)
from baas_client.schema import Collections, Schema

__all__ = [
    "ApiResponse",
    "Auth",
    "AuthResult",
    "BaasError",
    "BatchOperation",
    "BatchResponse",
    "Change",
    "Channel",
    "ChannelMessage",
    "ChangesPage",
    "Client",
    "Collections",
    "ErrorItem",
    "FileValue",
    "Files",
    "MessagePage",
    "Page",
    "PresenceChange",
    "Push",
    "PushDevice",
    "PushMessage",
    "PushNotification",
    "PushResult",
    "PushTarget",
    "Realtime",
    "RealtimeEvent",
    "RealtimeState",
    "RecordCollection",
    "Schema",
    "Subscription",
    "TopicSubscription",
    "VersionedRecord",
    "new_idempotency_key",
]
__version__ = "0.2.0"
