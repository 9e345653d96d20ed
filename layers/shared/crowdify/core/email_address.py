"""What the API accepts as an email address: a plain `local@domain.tld`, which every mail provider takes.

Looser patterns let through strings (`(@0`) that SendGrid's own parser chokes on, turning bad input into a 500.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

_LOCAL_PART = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL_ADDRESS_PATTERN = rf"^{_LOCAL_PART}@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$"

EmailAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=EMAIL_ADDRESS_PATTERN)]
