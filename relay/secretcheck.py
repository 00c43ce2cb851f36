"""Is a secret worth the name? Placeholders and low-entropy values are refused at start-up.

The estimate is Shannon's over the value's own characters: a value of ``n`` characters drawn
from ``k`` symbols with the observed frequencies carries about ``n * H`` bits. It is an upper
bound for a human-chosen value (a sentence scores well) and close to the truth for a random
one, so it catches repetition and short alphabets, and the placeholder list catches the rest.
``evo-relay init`` writes a value that passes (48 random bytes, URL-safe base64).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Final

MIN_SECRET_BITS: Final = 128.0

# Lower-case pieces that only a placeholder or an example contains.
PLACEHOLDERS: Final = (
    "change-me", "changeme", "change_me", "replace-me", "replaceme", "replace_me",
    "your-secret", "your_secret", "yoursecret", "placeholder", "example", "insert-",
    "secret-here", "put-your", "xxxxxxxx", "<", ">", "${",
)  # fmt: skip

INIT_HINT: Final = "generate one with `evo-relay init`"


def entropy_bits(value: str) -> float:
    """Shannon's estimate of the information in ``value``, in bits."""
    if not value:
        return 0.0
    counts = Counter(value)
    size = len(value)
    per_char = sum(n / size * math.log2(size / n) for n in counts.values())
    return per_char * size


def placeholder(value: str) -> bool:
    lowered = value.lower()
    return any(piece in lowered for piece in PLACEHOLDERS)


def weakness(value: str, *, min_bytes: int, min_bits: float = MIN_SECRET_BITS) -> str | None:
    """Why ``value`` is not a usable secret, or None. Never quotes the value."""
    if placeholder(value):
        return f"is a placeholder, not a secret; {INIT_HINT}"
    size = len(value.encode())
    if size < min_bytes:
        return f"must be at least {min_bytes} bytes (it has {size}); {INIT_HINT}"
    bits = entropy_bits(value)
    if bits < min_bits:
        return (
            f"is too predictable (about {bits:.0f} bits of entropy, at least {min_bits:.0f} "
            f"needed); {INIT_HINT}"
        )
    return None
