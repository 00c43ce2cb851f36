"""The Socket.IO envelope and the ``data`` bodies of lifecycle events (docs/upstream.md §6.5, §7).

Key order matters and is reproduced exactly: ``event, instance, data, server_url, date_time,
sender, apikey``, with ``sender`` left out while the instance has no wuid.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.state import Instance, utc_iso


def fake_z_time(offset: timedelta, moment: datetime | None = None) -> str:
    """Local wall-clock time with a misleading ``Z`` (Evolution subtracts the TZ offset)."""
    local = (moment or datetime.now(UTC)) + offset
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}Z"


def envelope(
    event: str,
    instance: Instance,
    data: Any,
    *,
    server_url: str | None,
    offset: timedelta,
    expose_token: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": event,
        "instance": instance.name,
        "data": data,
        "server_url": server_url,
        "date_time": fake_z_time(offset),
    }
    if instance.wuid is not None:
        body["sender"] = instance.wuid
    body["apikey"] = instance.token if expose_token else None
    return body


def connecting(instance: Instance) -> dict[str, Any]:
    return {"instance": instance.name, "state": "connecting", "statusReason": 200}


def opened(instance: Instance) -> dict[str, Any]:
    return {
        "instance": instance.name,
        "wuid": instance.wuid,
        "profileName": instance.profile_name,
        "profilePictureUrl": instance.profile_pic_url,
        "state": "open",
        "statusReason": 200,
    }


def closed(instance: Instance, code: int) -> dict[str, Any]:
    return {"instance": instance.name, "state": "close", "statusReason": code}


def refused(instance: Instance) -> dict[str, Any]:
    data: dict[str, Any] = {"instance": instance.name}
    if instance.wuid is not None:
        data["wuid"] = instance.wuid
        data["profileName"] = instance.profile_name
        data["profilePictureUrl"] = instance.profile_pic_url
    data["state"] = "refused"
    data["statusReason"] = 428
    return data


def qrcode(instance: Instance) -> dict[str, Any]:
    qr = instance.qr
    return {
        "qrcode": {
            "instance": instance.name,
            "pairingCode": qr.pairing_code,
            "code": qr.code,
            "base64": qr.base64,
        }
    }


QR_LIMIT_DATA: dict[str, Any] = {
    "message": "QR code limit reached, please login again",
    "statusCode": 500,
}


def disconnection_object(code: int, at: str) -> str:
    """What Evolution stores as ``JSON.stringify(lastDisconnect)``: a Boom error and a date."""
    reason = {401: "Unauthorized", 403: "Forbidden"}.get(code, "Connection Failure")
    return json.dumps(
        {
            "error": {
                "data": None,
                "isBoom": True,
                "isServer": code >= 500,
                "output": {
                    "statusCode": code,
                    "payload": {
                        "statusCode": code,
                        "error": reason,
                        "message": "Connection Failure",
                    },
                    "headers": {},
                },
            },
            "date": at,
        },
        separators=(",", ":"),
    )


def status_closed(instance: Instance, code: int) -> dict[str, Any]:
    """``status.instance`` data; also writes the disconnection columns on ``instance``."""
    at = utc_iso()
    instance.disconnection_code = code
    instance.disconnection_at = at
    instance.disconnection_object = disconnection_object(code, at)
    return {
        "instance": instance.name,
        "status": "closed",
        "disconnectionAt": at,
        "disconnectionReasonCode": code,
        "disconnectionObject": instance.disconnection_object,
    }


def lifecycle_ids(instance: Instance) -> dict[str, Any]:
    """``instance.create`` / ``instance.delete`` data."""
    return {"instanceName": instance.name, "instanceId": instance.id}
