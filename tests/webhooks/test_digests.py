"""Digests fed to hashlib in pieces are the digests of the whole."""

import hashlib
import hmac

import pytest

from webhooks.digests import hmac_sha256, sha256


@pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 2681, 4094, 4095, 65536, 65537, 10**6])
def test_sha256_and_hmac_match_hashlib_at_every_size(size):
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))

    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert hmac_sha256(b"secret", data).digest() == hmac.new(b"secret", data, "sha256").digest()
