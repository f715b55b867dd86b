"""Replaces hashlib.sha256/hmac.new on bodies; tests/webhooks/test_digests.py pins them.

SHA-256 and HMAC-SHA256 of a webhook body without letting go of the GIL.

hashlib releases the GIL to hash 2,048 bytes or more at once. For a 2.7 KB
body that is about 2 µs of hashing, and under gunicorn's threads the release
hands the GIL to another request thread: this one then waits to get it back
(a context switch, and a turn behind the other thread's work), twice per
webhook (the signature and the dedupe key). Fed in pieces under that size,
the digest is the same and the thread keeps the GIL. Bodies large enough for
the hashing itself to matter are still hashed in one call, letting other
threads run meanwhile.
"""

import hashlib
import hmac
from typing import Any

_PIECE = 2047  # one byte under hashlib's HASHLIB_GIL_MINSIZE
_PIECES_UP_TO = 64 * 1024


def sha256(data: bytes) -> Any:
    """``hashlib.sha256(data)``, the same hash object."""
    digest = hashlib.sha256()
    _feed(digest, data)
    return digest


def hmac_sha256(key: bytes, data: bytes) -> hmac.HMAC:
    """``hmac.new(key, data, hashlib.sha256)``, the same HMAC object."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    _feed(mac, data)
    return mac


def _feed(digest: Any, data: bytes) -> None:
    if len(data) > _PIECES_UP_TO:
        digest.update(data)
        return
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        digest.update(view[start : start + _PIECE])
