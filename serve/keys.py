"""Who may call /v1: a bearer key from PHARMATUNE_API_KEYS, or anyone on an app bound to loopback with no keys set.

A public app (a share link, a Space, a non-loopback host; app.py decides as ui/roles.py does) without keys keeps
the API off: an open endpoint there would let anyone run the server's models."""
from __future__ import annotations

import hmac

import settings
from serve.http_errors import ApiError

API_OFF = ("The /v1 API is off: this app is public (a share link, a Space or a non-loopback host) and has no API "
           "keys. Set PHARMATUNE_API_KEYS=key1,key2 on the server and send one as 'Authorization: Bearer <key>' "
           "(the openai client's api_key), or serve on 127.0.0.1.")
MISSING = ("No API key: send 'Authorization: Bearer <key>' (the openai client's api_key) with one of the keys in "
           "the server's PHARMATUNE_API_KEYS.")
WRONG = "Incorrect API key: it is not one of the keys in the server's PHARMATUNE_API_KEYS."


def enabled(*, public: bool) -> bool:
    return bool(settings.api_keys()) or not public


def check(authorization: str | None, *, public: bool) -> None:
    """Raise ApiError (401, or 403 when the API is off) unless the request may go on. The key is never echoed."""
    keys = settings.api_keys()
    if not keys:
        if public:
            raise ApiError(403, API_OFF, code="api_off")
        return
    scheme, _, given = (authorization or "").strip().partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, MISSING, code="invalid_api_key")
    # Compare with every key, in constant time each, so timing tells nothing about which one nearly matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    if not matched:
        raise ApiError(401, WRONG, code="invalid_api_key")
