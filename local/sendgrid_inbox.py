"""The SendGrid emulator's inbox for a person, as Mailpit and MailHog have: pages built from outbox records.

`GET /` lists this run's messages, newest first; `GET /messages/{id}` shows one: its addresses, its
text, its attachments to download and its HTML in a frame. The pages carry no script and no asset
from elsewhere. A mail's HTML is whatever the sender wrote, so it is never put into the inbox's own
pages: it is served on a route of its own under a CSP `sandbox` (an opaque origin, no script, even
when opened directly) and framed by an `<iframe sandbox>`. Attachments are downloads, never rendered.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from html import escape
from typing import Any

from aiohttp import web

# No script anywhere; frames only from this emulator (the mail's own HTML route).
INBOX_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# `sandbox` without allow-scripts or allow-same-origin: the mail cannot run script or act as this origin.
MAIL_HTML_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
ATTACHMENT_POLICY = "sandbox; default-src 'none'"
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
MIME_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*")

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 64rem; padding: 1rem; color: #222; }
h1 { font-size: 1.3rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { font-weight: 600; color: #555; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: #555; }
dd { margin: 0; }
iframe { width: 100%; height: 60vh; border: 1px solid #ccc; background: #fff; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .75rem; }
.empty { color: #777; }
"""


def _page(title: str, content: str) -> web.Response:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{content}\n</body></html>\n"
    )
    headers = {**COMMON_HEADERS, "Content-Security-Policy": INBOX_POLICY}
    return web.Response(text=document, content_type="text/html", charset="utf-8", headers=headers)


def _message_path(message: dict[str, Any]) -> str:
    return f"/messages/{urllib.parse.quote(message['id'])}"


def inbox_page(messages: list[dict[str, Any]]) -> web.Response:
    """The list, in the order given (newest first)."""
    if not messages:
        listing = '<p class="empty">No messages in this run yet. Reload the page after sending one.</p>'
    else:
        rows = "\n".join(
            "<tr>"
            f"<td>{escape(message['received_at'])}</td>"
            f"<td>{escape(', '.join(message['to']))}</td>"
            f'<td><a href="{_message_path(message)}">{escape(message["subject"] or "(no subject)")}</a></td>'
            f"<td>{len(message['attachments']) or ''}</td>"
            "</tr>"
            for message in messages
        )
        listing = (
            "<table><thead><tr><th>Received (UTC)</th><th>To</th><th>Subject</th><th>Attachments</th></tr></thead>"
            f"<tbody>\n{rows}\n</tbody></table>"
        )
    count = f"{len(messages)} message{'' if len(messages) == 1 else 's'}"
    return _page("Inbox — SendGrid emulator", f"<h1>Inbox — SendGrid emulator</h1>\n<p>{count}</p>\n{listing}")


def message_page(message: dict[str, Any]) -> web.Response:
    path = _message_path(message)
    attachments = "".join(
        f'<li><a href="{path}/attachments/{index}" download="{escape(attachment["filename"])}">'
        f"{escape(attachment['filename'])}</a> ({escape(attachment.get('type') or 'application/octet-stream')}, "
        f"{len(base64.b64decode(attachment['content'])):,} bytes)</li>"
        for index, attachment in enumerate(message["attachments"])
    )
    parts = [
        '<p><a href="/">← Inbox</a></p>',
        f"<h1>{escape(message['subject'] or '(no subject)')}</h1>",
        "<dl>",
        f"<dt>From</dt><dd>{escape(message['from'])}</dd>",
        f"<dt>To</dt><dd>{escape(', '.join(message['to']))}</dd>",
        f"<dt>Received</dt><dd>{escape(message['received_at'])}</dd>",
        f"<dt>Message id</dt><dd>{escape(message['id'])}</dd>",
        "</dl>",
    ]
    if attachments:
        parts.append(f"<h2>Attachments</h2><ul>{attachments}</ul>")
    if message["html"] is not None:
        parts.append(
            f'<h2>HTML</h2><iframe sandbox src="{path}/html" title="The message\'s HTML part" '
            'referrerpolicy="no-referrer"></iframe>'
        )
    if message["text"] is not None:
        parts.append(f"<h2>Text</h2><pre>{escape(message['text'])}</pre>")
    return _page(f"{message['subject'] or '(no subject)'} — SendGrid emulator", "\n".join(parts))


def message_html(message: dict[str, Any]) -> web.Response:
    headers = {**COMMON_HEADERS, "Content-Security-Policy": MAIL_HTML_POLICY}
    return web.Response(text=message["html"], content_type="text/html", charset="utf-8", headers=headers)


def _content_disposition(filename: str) -> str:
    # The quoted name is for old clients (ASCII, no quote or backslash); filename* carries the real one.
    fallback = "".join(
        character if character.isascii() and character.isprintable() and character not in '"\\' else "_"
        for character in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(filename, safe='')}"


def attachment_download(attachment: dict[str, Any]) -> web.Response:
    declared_type = attachment.get("type") or ""
    content_type = declared_type if MIME_TYPE.fullmatch(declared_type) else "application/octet-stream"
    headers = {
        **COMMON_HEADERS,
        "Content-Type": content_type,
        "Content-Disposition": _content_disposition(attachment["filename"]),
        "Content-Security-Policy": ATTACHMENT_POLICY,
    }
    return web.Response(body=base64.b64decode(attachment["content"]), headers=headers)
