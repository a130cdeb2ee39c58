"""Per-brand receipt signing keys (ES256), derived from SECRET_KEY and its fallbacks.

Nothing private is stored: the key is HMAC(secret, brand) mapped onto P-256. Rotating
SECRET_KEY while keeping the old one in SECRET_KEY_FALLBACKS keeps old receipts verifiable,
because the published key set lists the keys of every configured secret.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from joserfc.jwk import ECKey

from brands.models import Brand

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@lru_cache(maxsize=256)
def _derive(secret: str, brand_id: int) -> ECKey:
    seed = hmac.new(secret.encode(), f"candor.receipt-signing:{brand_id}".encode(), hashlib.sha256).digest()
    scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
    key = ECKey.import_key(ec.derive_private_key(scalar, ec.SECP256R1()))
    return key


def signing_key(brand: Brand) -> tuple[str, ECKey]:
    key = _derive(settings.SECRET_KEY, brand.pk)
    return key.thumbprint(), key


def public_jwks(brand: Brand) -> dict[str, list[dict[str, object]]]:
    keys: list[dict[str, object]] = []
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        key = _derive(secret, brand.pk)
        keys.append({**key.as_dict(private=False), "kid": key.thumbprint(), "alg": "ES256", "use": "sig"})
    return {"keys": keys}
