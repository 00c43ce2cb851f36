"""QR codes and pairing codes that look like Baileys' and scan with a phone camera.

The code format follows Baileys: ``2@<ref>,<noise key>,<identity key>,<adv secret>``, each part
random base64. The image is a real PNG made with segno, as a ``data:image/png;base64`` URL.
"""

from __future__ import annotations

import base64
import io
import secrets
import string

import segno

_PAIRING_ALPHABET = string.ascii_uppercase + string.digits


def _b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def new_code() -> str:
    """A fresh random QR payload, different on every call."""
    return "2@" + ",".join((_b64(48), _b64(32), _b64(32), _b64(32)))


def pairing_code() -> str:
    """An 8-character pairing code such as ``ABCD1234``."""
    return "".join(secrets.choice(_PAIRING_ALPHABET) for _ in range(8))


def png_data_url(code: str) -> str:
    """``data:image/png;base64,...`` of a scannable QR encoding ``code``."""
    buffer = io.BytesIO()
    segno.make(code, error="l", micro=False).save(buffer, kind="png", scale=4, border=2)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
