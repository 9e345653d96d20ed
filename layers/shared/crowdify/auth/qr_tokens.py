"""The QR token codec: Ed25519-signed ticket tokens (contract: docs/architecture.md, "QR tickets").

A token is "CT1" followed by the base64url (no padding) of
key_id (4) ‖ ticket_id (16) ‖ event_id (16) ‖ signature (64), where the signature covers
b"CT1" ‖ key_id ‖ ticket_id ‖ event_id and key_id is the first 4 bytes of SHA-256 of the raw
public key. The door verifies tokens on its hot path, so this module imports nothing heavier
than `cryptography` and keeps the public key objects ready.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

if TYPE_CHECKING:
    from collections.abc import Iterable

    from crowdify.config.settings import Settings

TOKEN_PREFIX = "CT1"
TOKEN_LENGTH = 137
KEY_ID_LENGTH = 4
SIGNATURE_LENGTH = 64
_SIGNED_PART_LENGTH = KEY_ID_LENGTH + 16 + 16
_PAYLOAD_LENGTH = _SIGNED_PART_LENGTH + SIGNATURE_LENGTH
_KEY_LENGTH = 32
_BASE64URL_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


class InvalidQrToken(ValueError):
    """The token is malformed, tampered with, or signed by a key that is not accepted."""


@dataclass(frozen=True)
class VerifiedTicket:
    ticket_id: UUID
    event_id: UUID
    key_id: str


def _encode_base64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_key_material(encoded: str, what: str) -> bytes:
    """Decode configured key material (padded or not); a bad value is a configuration error."""
    unpadded = encoded.strip().rstrip("=")
    # urlsafe_b64decode alone would silently skip foreign characters and accept "+" and "/".
    if not _BASE64URL_ALPHABET.fullmatch(unpadded):
        raise ValueError(f"{what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error as error:
        raise ValueError(f"{what} is not base64url") from error
    if len(raw) != _KEY_LENGTH:
        raise ValueError(f"{what} must be {_KEY_LENGTH} bytes, got {len(raw)}")
    return raw


def _key_id(raw_public_key: bytes) -> bytes:
    return hashlib.sha256(raw_public_key).digest()[:KEY_ID_LENGTH]


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_qr_secret() -> str:
    """A fresh QR_SECRET: a random Ed25519 seed, base64url without padding."""
    return _encode_base64url(secrets.token_bytes(_KEY_LENGTH))


class QrSigner:
    """Signs tokens with the current key and verifies them against every accepted key.

    `secret` is QR_SECRET (the current private seed); `previous_public_keys` are the raw
    public keys (base64url) that stay accepted during a key rotation.
    """

    def __init__(self, secret: str, previous_public_keys: Iterable[str] = ()) -> None:
        self._private_key = Ed25519PrivateKey.from_private_bytes(_decode_key_material(secret, "QR_SECRET"))
        current_public_key = self._private_key.public_key()
        self._current_key_id = _key_id(_raw_public_key(current_public_key))
        # Insertion order keeps the current key first in accepted_public_keys().
        self._public_keys: dict[bytes, Ed25519PublicKey] = {self._current_key_id: current_public_key}
        for encoded in previous_public_keys:
            raw = _decode_key_material(encoded, "QR_PREVIOUS_PUBLIC_KEYS entry")
            self._public_keys.setdefault(_key_id(raw), Ed25519PublicKey.from_public_bytes(raw))

    @property
    def current_key_id(self) -> str:
        return self._current_key_id.hex()

    def sign_ticket(self, ticket_id: UUID, event_id: UUID) -> str:
        signed_part = self._current_key_id + ticket_id.bytes + event_id.bytes
        signature = self._private_key.sign(TOKEN_PREFIX.encode("ascii") + signed_part)
        return TOKEN_PREFIX + _encode_base64url(signed_part + signature)

    def verify(self, token: str) -> VerifiedTicket:
        """Return the ticket a token names, or raise InvalidQrToken. No I/O."""
        if not isinstance(token, str) or len(token) != TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
            raise InvalidQrToken("not a Crowdify ticket code")
        encoded = token[len(TOKEN_PREFIX) :]
        try:
            payload = base64.urlsafe_b64decode(encoded + "==")
        except ValueError as error:  # binascii.Error, and non-ASCII input
            raise InvalidQrToken("not a Crowdify ticket code") from error
        # Re-encoding rejects every other spelling of the same bytes: stray characters that the
        # decoder skipped, "+" or "/", and non-zero trailing bits in the last character.
        if len(payload) != _PAYLOAD_LENGTH or _encode_base64url(payload) != encoded:
            raise InvalidQrToken("not a Crowdify ticket code")
        key_id = payload[:KEY_ID_LENGTH]
        public_key = self._public_keys.get(key_id)
        if public_key is None:
            raise InvalidQrToken("ticket code signed by an unknown key")
        signed_part = payload[:_SIGNED_PART_LENGTH]
        try:
            public_key.verify(payload[_SIGNED_PART_LENGTH:], TOKEN_PREFIX.encode("ascii") + signed_part)
        except InvalidSignature as error:
            raise InvalidQrToken("ticket code signature does not match") from error
        return VerifiedTicket(
            ticket_id=UUID(bytes=signed_part[KEY_ID_LENGTH : KEY_ID_LENGTH + 16]),
            event_id=UUID(bytes=signed_part[KEY_ID_LENGTH + 16 :]),
            key_id=key_id.hex(),
        )

    def accepted_public_keys(self) -> list[dict[str, str]]:
        """The keys a scanner accepts, current first, as the scanner bundle lists them."""
        return [
            {"kid": key_id.hex(), "public_key": _encode_base64url(_raw_public_key(public_key))}
            for key_id, public_key in self._public_keys.items()
        ]


def keyring_from_settings(settings: Settings) -> QrSigner:
    """The process-wide signer for these settings (built once: key parsing is not free)."""
    return _cached_signer(settings.qr_secret, tuple(settings.qr_previous_public_keys))


@lru_cache(maxsize=4)
def _cached_signer(secret: str, previous_public_keys: tuple[str, ...]) -> QrSigner:
    if not secret:
        raise ValueError("QR_SECRET is not set")
    return QrSigner(secret, previous_public_keys)
