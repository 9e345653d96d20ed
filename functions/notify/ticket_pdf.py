"""One PDF per order, one A4 page per ticket, each page with exactly one barcode: the QR code
whose text is the ticket's `qr_signature` (contract: docs/architecture.md, "QR tickets").

The QR code is drawn as vector rectangles straight from the qrcode matrix: no raster image, so
no PIL on this path, and the code stays sharp at any zoom or print size.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab import rl_config
from reportlab.lib.colors import black, white
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
QR_SIDE = 65 * mm  # a phone camera reads a version 8 code of this size from arm's length
QR_QUIET_ZONE_MODULES = 4  # the QR standard's minimum white border
REGULAR_FONT = "Helvetica"
BOLD_FONT = "Helvetica-Bold"
# reportlab's standard fonts draw WinAnsi (cp1252) text only.
QR_MASK_PATTERN = 0
# ASCII85 wrapping of compressed streams costs time and only helps 7-bit transports; ours is binary-safe.
rl_config.useA85 = 0
STANDARD_FONT_ENCODING = "cp1252"
# Letters NFKD does not split into a base letter and an accent.
LETTERS_WITHOUT_DECOMPOSITION = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "\u0131": "i"}
)
ACCENT_COLOR = (0.31, 0.20, 0.65)
MUTED_COLOR = (0.35, 0.35, 0.40)

LABELS: dict[str, dict[str, str]] = {
    "es": {
        "title": "Entrada",
        "ticket_number": "Entrada {number} de {total}",
        "date": "Fecha",
        "venue": "Lugar",
        "ticket_type": "Tipo de entrada",
        "holder": "Titular",
        "child": "ENTRADA INFANTIL",
        "order": "Pedido",
        "ticket_id": "Entrada",
        "instructions": "Presenta este código QR en el acceso. Cada código vale para un solo ingreso.",
        "keep_private": "No compartas esta entrada: quien presente primero el código, entra.",
        "hour_suffix": " h",
    },
    "en": {
        "title": "Ticket",
        "ticket_number": "Ticket {number} of {total}",
        "date": "Date",
        "venue": "Venue",
        "ticket_type": "Ticket type",
        "holder": "Holder",
        "child": "CHILD TICKET",
        "order": "Order",
        "ticket_id": "Ticket",
        "instructions": "Show this QR code at the entrance. Each code admits one person once.",
        "keep_private": "Do not share this ticket: whoever shows the code first gets in.",
        "hour_suffix": "",
    },
}
WEEKDAYS = {
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
MONTHS = {
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}


@dataclass(frozen=True)
class TicketPage:
    event_name: str
    starts_at: datetime  # timezone-aware
    timezone_name: str  # IANA name the event's local time is shown in, e.g. "America/Santiago"
    venue: str | None
    ticket_type_name: str
    holder_name: str
    order_id: UUID | str
    ticket_id: UUID | str
    qr_signature: str
    is_child: bool = False


def render_tickets_pdf(pages: list[TicketPage], language: str = "es") -> bytes:
    """The order's PDF: one page per ticket, in the given order."""
    if not pages:
        raise ValueError("an order's PDF needs at least one ticket")
    language = _supported_language(language)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(_printable(pages[0].event_name))
    canvas.setAuthor("Crowdify")
    for number, page in enumerate(pages, start=1):
        _draw_ticket_page(canvas, page, language, number, len(pages))
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _supported_language(language: str) -> str:
    primary = language.split("-")[0].split("_")[0].lower()
    return primary if primary in LABELS else "es"


def _printable(text: str) -> str:
    """`text` with what the standard fonts cannot draw replaced, so no name ever fails a PDF."""
    characters = []
    for character in unicodedata.normalize("NFC", text).translate(LETTERS_WITHOUT_DECOMPOSITION):
        try:
            character.encode(STANDARD_FONT_ENCODING)
            characters.append(character)
            continue
        except UnicodeEncodeError:
            pass
        # "ő" or "ș" are outside cp1252 but their base letter is not; keep that.
        base = "".join(
            part
            for part in unicodedata.normalize("NFKD", character)
            if not unicodedata.combining(part) and part.encode(STANDARD_FONT_ENCODING, "ignore")
        )
        characters.append(base or "?")
    return "".join(characters)


def _fitted(text: str, font: str, size: float, width: float) -> str:
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrapped(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and stringWidth(candidate, font, size) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [_fitted(line, font, size, width) for line in lines]


def _local_start(page: TicketPage, language: str) -> str:
    try:
        local = page.starts_at.astimezone(ZoneInfo(page.timezone_name))
        zone = page.timezone_name
    except (ZoneInfoNotFoundError, ValueError):
        # A ticket must still render when the zone name is unknown here: show the stored offset.
        local = page.starts_at
        zone = local.strftime("UTC%z")
    weekday = WEEKDAYS[language][local.weekday()]
    month = MONTHS[language][local.month - 1]
    time_of_day = f"{local:%H:%M}{LABELS[language]['hour_suffix']}"
    if language == "es":
        return f"{weekday} {local.day} de {month} de {local.year}, {time_of_day} ({zone})"
    return f"{weekday} {local.day} {month} {local.year}, {time_of_day} ({zone})"


def _draw_qr(canvas: Canvas, text: str, left: float, bottom: float, side: float) -> None:
    # A fixed mask skips scoring all eight patterns (half the page's render time); every mask is a valid QR
    # code, and the tests decode each page to prove this one reads.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QR_QUIET_ZONE_MODULES, mask_pattern=QR_MASK_PATTERN)
    code.add_data(text.encode("ascii"))
    code.make(fit=True)
    matrix = code.get_matrix()
    module = side / len(matrix)
    # The page is white, but an explicit white square keeps the quiet zone clear whatever is drawn later.
    canvas.setFillColor(white)
    canvas.rect(left, bottom, side, side, stroke=0, fill=1)
    path = canvas.beginPath()
    for row_index, row in enumerate(matrix):
        y = bottom + side - (row_index + 1) * module
        column = 0
        width = len(row)
        # One rectangle per run of dark modules: fewer path operators, a smaller and faster PDF.
        while column < width:
            if not row[column]:
                column += 1
                continue
            run_start = column
            while column < width and row[column]:
                column += 1
            path.rect(left + run_start * module, y, (column - run_start) * module, module)
    canvas.setFillColor(black)
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_field(canvas: Canvas, label: str, value: str, x: float, y: float, width: float) -> None:
    canvas.setFillColorRGB(*MUTED_COLOR)
    canvas.setFont(REGULAR_FONT, 9)
    canvas.drawString(x, y, label.upper())
    canvas.setFillColor(black)
    canvas.setFont(BOLD_FONT, 13)
    canvas.drawString(x, y - 16, _fitted(_printable(value), BOLD_FONT, 13, width))


def _draw_ticket_page(canvas: Canvas, page: TicketPage, language: str, number: int, total: int) -> None:
    labels = LABELS[language]
    content_width = PAGE_WIDTH - 2 * MARGIN
    top = PAGE_HEIGHT - MARGIN

    canvas.setFillColorRGB(*ACCENT_COLOR)
    canvas.rect(0, PAGE_HEIGHT - 14 * mm, PAGE_WIDTH, 14 * mm, stroke=0, fill=1)
    canvas.setFillColor(white)
    canvas.setFont(BOLD_FONT, 14)
    canvas.drawString(MARGIN, PAGE_HEIGHT - 9.5 * mm, "CROWDIFY")
    canvas.setFont(REGULAR_FONT, 11)
    ticket_number = labels["ticket_number"].format(number=number, total=total)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 9.5 * mm, ticket_number)

    y = top - 14 * mm
    canvas.setFillColor(black)
    canvas.setFont(BOLD_FONT, 22)
    for line in _wrapped(_printable(page.event_name), BOLD_FONT, 22, content_width, max_lines=2):
        canvas.drawString(MARGIN, y, line)
        y -= 27

    y -= 10
    _draw_field(canvas, labels["date"], _local_start(page, language), MARGIN, y, content_width)
    if page.venue:
        y -= 40
        _draw_field(canvas, labels["venue"], page.venue, MARGIN, y, content_width)
    y -= 40
    half_width = content_width / 2 - 5 * mm
    _draw_field(canvas, labels["ticket_type"], page.ticket_type_name, MARGIN, y, half_width)
    _draw_field(canvas, labels["holder"], page.holder_name, MARGIN + content_width / 2, y, half_width)

    if page.is_child:
        y -= 38
        canvas.setFont(BOLD_FONT, 11)
        badge_width = stringWidth(labels["child"], BOLD_FONT, 11) + 8 * mm
        canvas.setFillColorRGB(*ACCENT_COLOR)
        canvas.roundRect(MARGIN, y - 6, badge_width, 22, 4, stroke=0, fill=1)
        canvas.setFillColor(white)
        canvas.drawString(MARGIN + 4 * mm, y + 1, labels["child"])

    qr_bottom = 95 * mm
    _draw_qr(canvas, page.qr_signature, (PAGE_WIDTH - QR_SIDE) / 2, qr_bottom, QR_SIDE)

    canvas.setFillColorRGB(*MUTED_COLOR)
    canvas.setFont(REGULAR_FONT, 9)
    center = PAGE_WIDTH / 2
    canvas.drawCentredString(center, qr_bottom - 6 * mm, f"{labels['ticket_id']} {page.ticket_id}")
    canvas.drawCentredString(center, qr_bottom - 11 * mm, f"{labels['order']} {page.order_id}")

    canvas.setFillColor(black)
    canvas.setFont(REGULAR_FONT, 10)
    canvas.drawCentredString(center, 40 * mm, labels["instructions"])
    canvas.setFillColorRGB(*MUTED_COLOR)
    canvas.setFont(REGULAR_FONT, 9)
    canvas.drawCentredString(center, 34 * mm, labels["keep_private"])
