import hashlib
import hmac

import pytest

from crowdify.auth.webhook_signature import manifest, sign, verify_signature

# The test vector of docs/architecture.md, "MercadoPago".
SECRET = "crowdify-test-webhook-secret"
DATA_ID = "123456789"
REQUEST_ID = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"
TS = "1742505638683"
V1 = "40e9f9366701ecc208030f3196436502000678e50b74aa28945c945b0b55546a"
HEADER = f"ts={TS},v1={V1}"


def test_vector_manifest_and_signature() -> None:
    assert manifest(DATA_ID, REQUEST_ID, TS) == f"id:{DATA_ID};request-id:{REQUEST_ID};ts:{TS};"
    assert sign(SECRET, DATA_ID, REQUEST_ID, TS) == V1


def test_vector_header_verifies() -> None:
    assert verify_signature(SECRET, HEADER, REQUEST_ID, DATA_ID)


@pytest.mark.parametrize(
    "header",
    [
        f"v1={V1},ts={TS}",
        f"ts={TS}, v1={V1}",
        f" ts = {TS} , v1 = {V1} ",
        f"ts={TS},v1={V1.upper()}",
    ],
    ids=["reversed", "space-after-comma", "spaces-everywhere", "upper-case-hex"],
)
def test_header_layout_is_tolerated(header: str) -> None:
    assert verify_signature(SECRET, header, REQUEST_ID, DATA_ID)


def test_forged_signature_is_rejected() -> None:
    forged = hmac.new(b"guess", manifest(DATA_ID, REQUEST_ID, TS).encode(), hashlib.sha256).hexdigest()

    assert not verify_signature(SECRET, f"ts={TS},v1={forged}", REQUEST_ID, DATA_ID)
    assert not verify_signature(SECRET, f"ts={TS},v1={'0' * 64}", REQUEST_ID, DATA_ID)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_rejected(header: str | None) -> None:
    assert not verify_signature(SECRET, header, REQUEST_ID, DATA_ID)


def test_wrong_secret_is_rejected() -> None:
    assert not verify_signature("another-secret", HEADER, REQUEST_ID, DATA_ID)


def test_empty_secret_never_verifies() -> None:
    unkeyed = f"ts={TS},v1={sign('', DATA_ID, REQUEST_ID, TS)}"

    assert not verify_signature("", unkeyed, REQUEST_ID, DATA_ID)


def test_signature_moved_to_another_notification_is_rejected() -> None:
    assert not verify_signature(SECRET, HEADER, REQUEST_ID, "987654321")
    assert not verify_signature(SECRET, HEADER, "another-request-id", DATA_ID)
    assert not verify_signature(SECRET, f"ts={int(TS) + 1},v1={V1}", REQUEST_ID, DATA_ID)


def test_alphanumeric_data_id_is_lower_cased() -> None:
    assert manifest("ABC123def", REQUEST_ID, TS) == f"id:abc123def;request-id:{REQUEST_ID};ts:{TS};"
    signed_lower = sign(SECRET, "abc123def", REQUEST_ID, TS)

    assert verify_signature(SECRET, f"ts={TS},v1={signed_lower}", REQUEST_ID, "ABC123def")


def test_non_alphanumeric_data_id_keeps_its_case() -> None:
    assert manifest("ABC-123", None, TS) == f"id:ABC-123;ts:{TS};"


def test_absent_parts_are_left_out_of_the_manifest() -> None:
    assert manifest(DATA_ID, None, TS) == f"id:{DATA_ID};ts:{TS};"
    assert manifest(None, REQUEST_ID, TS) == f"request-id:{REQUEST_ID};ts:{TS};"
    assert manifest(DATA_ID, "", TS) == f"id:{DATA_ID};ts:{TS};"


def test_missing_request_id_verifies_against_the_shorter_manifest() -> None:
    without_request_id = sign(SECRET, DATA_ID, None, TS)
    assert (
        without_request_id == hmac.new(SECRET.encode(), f"id:{DATA_ID};ts:{TS};".encode(), hashlib.sha256).hexdigest()
    )

    assert verify_signature(SECRET, f"ts={TS},v1={without_request_id}", None, DATA_ID)
    assert not verify_signature(SECRET, HEADER, None, DATA_ID)


@pytest.mark.parametrize(
    "header",
    [
        V1,
        f"v1={V1}",
        f"ts={TS}",
        f"ts={TS};v1={V1}",
        f"ts={TS},v1=",
        f"ts=,v1={V1}",
        f"ts={TS},v1={V1},v1={V1}",
        f"ts={TS},ts={TS},v1={V1}",
        f"ts={TS},v1={V1[:-1]}",
        f"ts={TS},v1={V1}0",
        f"ts={TS},v1={V1[:-1]}g",
        f"ts={TS},v1={V1[:-1]}é",
        f"ts={TS},,v1={V1}",
        f"ts={TS},v1 {V1}",
        ",",
        "=",
    ],
)
def test_malformed_header_is_rejected(header: str) -> None:
    assert not verify_signature(SECRET, header, REQUEST_ID, DATA_ID)
