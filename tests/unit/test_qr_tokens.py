import base64
from uuid import UUID, uuid4

import pytest

from crowdify.auth.qr_tokens import (
    TOKEN_LENGTH,
    InvalidQrToken,
    QrSigner,
    VerifiedTicket,
    generate_qr_secret,
    keyring_from_settings,
)
from crowdify.config.settings import Settings

# The test vector of docs/architecture.md, "QR tickets".
VECTOR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
VECTOR_PUBLIC_KEY = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
VECTOR_KEY_ID = "56475aa7"
VECTOR_TICKET_ID = UUID("11111111-2222-4333-8444-555555555555")
VECTOR_EVENT_ID = UUID("66666666-7777-4888-8999-aaaaaaaaaaaa")
VECTOR_TOKEN = (
    "CT1VkdapxEREREiIkMzhERVVVVVVVVmZmZmd3dIiImZqqqqqqqqlJGaBBczLPQ4SIUiOr-dRoeFl52Zzdm34Z7f0Z7s4bFNg6no4QGTm"
    "f2EPyCX6s_4fkrLXYQQ-MxHi2yJcGwxCQ"
)
BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def signer() -> QrSigner:
    return QrSigner(VECTOR_SECRET)


def lenient_decode(token: str) -> bytes:
    body = token[3:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_vector_signs_to_the_documented_token(signer: QrSigner) -> None:
    token = signer.sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID)

    assert token == VECTOR_TOKEN
    assert len(token) == TOKEN_LENGTH == 137


def test_vector_public_key_and_key_id(signer: QrSigner) -> None:
    assert signer.current_key_id == VECTOR_KEY_ID
    assert signer.accepted_public_keys() == [{"kid": VECTOR_KEY_ID, "public_key": VECTOR_PUBLIC_KEY}]


def test_vector_token_verifies(signer: QrSigner) -> None:
    assert signer.verify(VECTOR_TOKEN) == VerifiedTicket(
        ticket_id=VECTOR_TICKET_ID, event_id=VECTOR_EVENT_ID, key_id=VECTOR_KEY_ID
    )


def test_padded_secret_is_the_same_key() -> None:
    assert QrSigner(VECTOR_SECRET + "=").sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID) == VECTOR_TOKEN


@pytest.mark.parametrize("secret", ["", "AAEC", VECTOR_SECRET + "AAAA", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+"])
def test_bad_secret_is_a_configuration_error(secret: str) -> None:
    with pytest.raises(ValueError):
        QrSigner(secret)


def test_round_trip_with_a_generated_secret() -> None:
    generated = QrSigner(generate_qr_secret())
    ticket_id, event_id = uuid4(), uuid4()

    token = generated.sign_ticket(ticket_id, event_id)

    assert len(token) == TOKEN_LENGTH
    assert generated.verify(token) == VerifiedTicket(ticket_id, event_id, generated.current_key_id)


def test_every_single_character_change_is_rejected(signer: QrSigner) -> None:
    accepted = []
    for position, original in enumerate(VECTOR_TOKEN):
        for replacement in BASE64URL_ALPHABET:
            if replacement == original:
                continue
            changed = VECTOR_TOKEN[:position] + replacement + VECTOR_TOKEN[position + 1 :]
            try:
                signer.verify(changed)
            except InvalidQrToken:
                continue
            accepted.append(changed)
    assert accepted == []


@pytest.mark.parametrize(
    "token",
    [
        VECTOR_TOKEN[:-1],
        VECTOR_TOKEN[:-4],
        VECTOR_TOKEN + "A",
        VECTOR_TOKEN + "AAAA",
        VECTOR_TOKEN + "=",
        VECTOR_TOKEN + "==",
        "CT2" + VECTOR_TOKEN[3:],
        "ct1" + VECTOR_TOKEN[3:],
        "X" + VECTOR_TOKEN[1:],
        " " + VECTOR_TOKEN[:-1],
        VECTOR_TOKEN[:-1] + "\n",
        VECTOR_TOKEN[:-1] + "é",
        "",
        "CT1",
    ],
    ids=[
        "truncated-1",
        "truncated-4",
        "extended-1",
        "extended-4",
        "padding-1",
        "padding-2",
        "prefix-CT2",
        "prefix-lowercase",
        "prefix-X",
        "leading-space",
        "trailing-newline",
        "non-ascii",
        "empty",
        "prefix-only",
    ],
)
def test_malformed_tokens_are_rejected(signer: QrSigner, token: str) -> None:
    with pytest.raises(InvalidQrToken):
        signer.verify(token)


def test_non_string_is_rejected(signer: QrSigner) -> None:
    with pytest.raises(InvalidQrToken):
        signer.verify(VECTOR_TOKEN.encode())  # type: ignore[arg-type]


def test_non_canonical_last_character_is_rejected(signer: QrSigner) -> None:
    # The last character carries 2 payload bits and 4 bits that must be zero; setting one of
    # those 4 bits spells the same bytes with a different string.
    last_index = BASE64URL_ALPHABET.index(VECTOR_TOKEN[-1])
    assert last_index & 0b001111 == 0
    non_canonical = VECTOR_TOKEN[:-1] + BASE64URL_ALPHABET[last_index | 0b000001]
    assert lenient_decode(non_canonical) == lenient_decode(VECTOR_TOKEN)

    with pytest.raises(InvalidQrToken):
        signer.verify(non_canonical)


def test_standard_base64_alphabet_is_rejected(signer: QrSigner) -> None:
    standard_alphabet = VECTOR_TOKEN.replace("-", "+").replace("_", "/")
    assert standard_alphabet != VECTOR_TOKEN
    assert base64.b64decode(standard_alphabet[3:] + "==") == lenient_decode(VECTOR_TOKEN)

    with pytest.raises(InvalidQrToken):
        signer.verify(standard_alphabet)


def test_token_signed_by_a_foreign_key_is_rejected(signer: QrSigner) -> None:
    foreign_token = QrSigner(generate_qr_secret()).sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID)

    with pytest.raises(InvalidQrToken):
        signer.verify(foreign_token)


def test_foreign_signature_under_the_current_key_id_is_rejected(signer: QrSigner) -> None:
    foreign_payload = lenient_decode(QrSigner(generate_qr_secret()).sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID))
    forged_payload = lenient_decode(VECTOR_TOKEN)[:4] + foreign_payload[4:]
    forged = "CT1" + base64.urlsafe_b64encode(forged_payload).rstrip(b"=").decode()

    with pytest.raises(InvalidQrToken):
        signer.verify(forged)


def test_previous_key_is_accepted_only_while_listed() -> None:
    previous = QrSigner(generate_qr_secret())
    previous_public_key = previous.accepted_public_keys()[0]["public_key"]
    token = previous.sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID)

    rotated = QrSigner(VECTOR_SECRET, [previous_public_key])
    assert rotated.verify(token) == VerifiedTicket(VECTOR_TICKET_ID, VECTOR_EVENT_ID, previous.current_key_id)
    assert rotated.verify(VECTOR_TOKEN).key_id == VECTOR_KEY_ID
    assert [key["kid"] for key in rotated.accepted_public_keys()] == [VECTOR_KEY_ID, previous.current_key_id]
    # New tokens are signed with the current key only.
    assert rotated.sign_ticket(VECTOR_TICKET_ID, VECTOR_EVENT_ID) == VECTOR_TOKEN

    with pytest.raises(InvalidQrToken):
        QrSigner(VECTOR_SECRET).verify(token)


def test_ticket_and_event_swapped_is_rejected(signer: QrSigner) -> None:
    payload = lenient_decode(VECTOR_TOKEN)
    swapped_payload = payload[:4] + payload[20:36] + payload[4:20] + payload[36:]
    swapped = "CT1" + base64.urlsafe_b64encode(swapped_payload).rstrip(b"=").decode()

    with pytest.raises(InvalidQrToken):
        signer.verify(swapped)


def test_keyring_from_settings_is_built_once_per_configuration() -> None:
    previous_public_key = QrSigner(generate_qr_secret()).accepted_public_keys()[0]["public_key"]
    settings = Settings(qr_secret=VECTOR_SECRET, qr_previous_public_keys=[previous_public_key])

    keyring = keyring_from_settings(settings)

    assert keyring is keyring_from_settings(settings.model_copy())
    assert keyring.verify(VECTOR_TOKEN).key_id == VECTOR_KEY_ID
    assert len(keyring.accepted_public_keys()) == 2
    assert keyring_from_settings(Settings(qr_secret=VECTOR_SECRET)) is not keyring


def test_keyring_from_settings_without_a_secret_fails_loudly() -> None:
    with pytest.raises(ValueError, match="QR_SECRET"):
        keyring_from_settings(Settings(qr_secret=""))
