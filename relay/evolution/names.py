"""Evolution's websocket/webhook event names (docs/upstream.md §4, §10).

The config names are upper case (``CONNECTION_UPDATE``); the Socket.IO event names are the
lower-case dotted internal names (``connection.update``). Evolution matches delivery by turning
``.`` and ``-`` into ``_`` and upper-casing, which is what :func:`config_name` does.
"""

from __future__ import annotations

from typing import Final

EVENTS_2_3: Final[tuple[str, ...]] = (
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
)

ADDED_IN_2_3: Final[frozenset[str]] = frozenset(
    {"SEND_MESSAGE_UPDATE", "INSTANCE_CREATE", "INSTANCE_DELETE", "STATUS_INSTANCE"}
)

EVENTS_2_2: Final[tuple[str, ...]] = tuple(e for e in EVENTS_2_3 if e not in ADDED_IN_2_3)

# The relay needs these two for statuses; they are always merged into a websocket config.
REQUIRED_EVENTS: Final[tuple[str, ...]] = ("CONNECTION_UPDATE", "QRCODE_UPDATED")


def config_name(event: str) -> str:
    """``group-participants.update`` -> ``GROUP_PARTICIPANTS_UPDATE`` (Evolution's matching)."""
    return event.replace(".", "_").replace("-", "_").upper()


def valid_events(version: tuple[int, ...] | None) -> tuple[str, ...]:
    """The names a server of ``version`` accepts; an unknown version is taken as the newest."""
    if version is not None and version < (2, 3):
        return EVENTS_2_2
    return EVENTS_2_3
