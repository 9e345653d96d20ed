import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pypdfium2
import pytest
import zxingcpp

from crowdify.auth.qr_tokens import QrSigner, generate_qr_secret

# functions/notify is a Lambda code folder, not a package: its modules import as top-level names.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions" / "notify"))
from ticket_pdf import TicketPage, render_tickets_pdf

EVENT_ID = UUID("66666666-7777-4888-8999-aaaaaaaaaaaa")
# 00:30 UTC is 21:30 the day before in Santiago (UTC-3 in March).
STARTS_AT = datetime(2026, 3, 14, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def signer() -> QrSigner:
    return QrSigner(generate_qr_secret())


def ticket_page(signer: QrSigner, holder_name: str, *, is_child: bool = False, **overrides: object) -> TicketPage:
    ticket_id = uuid4()
    fields = {
        "event_name": "Festival de Jazz de Valparaíso",
        "starts_at": STARTS_AT,
        "timezone_name": "America/Santiago",
        "venue": "Teatro Municipal",
        "ticket_type_name": "General",
        "holder_name": holder_name,
        "order_id": uuid4(),
        "ticket_id": ticket_id,
        "qr_signature": signer.sign_ticket(ticket_id, EVENT_ID),
        "is_child": is_child,
    }
    return TicketPage(**{**fields, **overrides})  # type: ignore[arg-type]


def page_texts(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    return [page.get_textpage().get_text_range() for page in document]


def test_each_page_has_exactly_one_qr_code_naming_its_ticket(signer: QrSigner) -> None:
    pages = [
        ticket_page(signer, "José Ñúñez"),
        ticket_page(signer, "Zoë 🎉 Łukasz Ștefan 王", is_child=True),
        ticket_page(signer, "Ana Pérez", venue=None),
    ]

    pdf = render_tickets_pdf(pages)

    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == len(pages)
    for page, expected in zip(document, pages, strict=True):
        barcodes = zxingcpp.read_barcodes(page.render(scale=3).to_pil())
        assert len(barcodes) == 1
        assert barcodes[0].format == zxingcpp.BarcodeFormat.QRCode
        assert barcodes[0].text == expected.qr_signature
        verified = signer.verify(barcodes[0].text)
        assert (verified.ticket_id, verified.event_id) == (expected.ticket_id, EVENT_ID)


def test_spanish_page_texts(signer: QrSigner) -> None:
    page = ticket_page(signer, "José Ñúñez", is_child=True)

    [text] = page_texts(render_tickets_pdf([page], language="es"))

    assert "José Ñúñez" in text
    assert "Festival de Jazz de Valparaíso" in text
    assert "viernes 13 de marzo de 2026, 21:30 h (America/Santiago)" in text
    for expected in ("Teatro Municipal", "General", "TITULAR", "Entrada 1 de 1", "ENTRADA INFANTIL"):
        assert expected in text
    assert str(page.ticket_id) in text
    assert str(page.order_id) in text


def test_english_page_texts(signer: QrSigner) -> None:
    pages = [ticket_page(signer, "Ana"), ticket_page(signer, "Ben")]

    texts = page_texts(render_tickets_pdf(pages, language="en"))

    assert "Friday 13 March 2026, 21:30 (America/Santiago)" in texts[0]
    assert "Ticket 1 of 2" in texts[0]
    assert "Ticket 2 of 2" in texts[1]
    assert "HOLDER" in texts[1]
    assert "CHILD TICKET" not in texts[1]


def test_characters_the_fonts_lack_are_replaced(signer: QrSigner) -> None:
    [text] = page_texts(render_tickets_pdf([ticket_page(signer, "Zoë 🎉 Łukasz Ștefan 王")]))

    assert "Zoë ? Lukasz Stefan ?" in text


def test_unknown_timezone_still_renders(signer: QrSigner) -> None:
    page = ticket_page(signer, "Ana", timezone_name="Not/AZone")

    [text] = page_texts(render_tickets_pdf([page]))

    assert "00:30 h (UTC+0000)" in text


def test_an_order_without_tickets_has_no_pdf() -> None:
    with pytest.raises(ValueError):
        render_tickets_pdf([])
