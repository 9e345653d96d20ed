"""The emulator signs webhooks exactly as the MercadoPago contract says (docs/architecture.md)."""

from local.mercadopago_emulator import sign_notification, signature_manifest

SECRET = "crowdify-test-webhook-secret"
REQUEST_ID = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"


def test_design_test_vector() -> None:
    signature = sign_notification(SECRET, "123456789", REQUEST_ID, "1742505638683")
    assert signature == "40e9f9366701ecc208030f3196436502000678e50b74aa28945c945b0b55546a"


def test_manifest_lower_cases_alphanumeric_ids_and_leaves_out_absent_parts() -> None:
    assert signature_manifest("ABC123", REQUEST_ID, "1") == f"id:abc123;request-id:{REQUEST_ID};ts:1;"
    assert signature_manifest("AB-1", None, "1") == "id:AB-1;ts:1;"
    assert signature_manifest(None, None, "1") == "ts:1;"
