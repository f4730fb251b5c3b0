"""Keep credentials out of everything a run prints or writes.

Secrets are never put into messages on purpose; this is the second line of defence for text
that comes from elsewhere (an SDK's exception, a URL the user typed): every value of the
credential variables below, and every SAS signature, key or token inside a URL or connection
string, is replaced by `***`.
"""

from __future__ import annotations

import os
import re

MASK = "***"
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CONNECTION_STRING",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
_CONNECTION_STRING_SECRETS = re.compile(r"(?i)(AccountKey|SharedAccessSignature|sig)=([^;&\s]+)")
_URL_QUERY_SECRETS = re.compile(
    r"(?i)([?&](?:sig|signature|x-amz-signature|x-amz-security-token|x-goog-signature|token|"
    r"access_token|sv|se|sp|st|skoid|sktid)=)([^&\s'\"]+)"
)
_MIN_SECRET_LENGTH = 6


def redact(text: str) -> str:
    """Replace every known secret in `text` by `***`."""
    for value in _secret_values():
        text = text.replace(value, MASK)
    text = _CONNECTION_STRING_SECRETS.sub(lambda match: f"{match.group(1)}={MASK}", text)
    return _URL_QUERY_SECRETS.sub(lambda match: f"{match.group(1)}{MASK}", text)


def _secret_values() -> list[str]:
    values = []
    for name in SECRET_VARIABLES:
        value = os.environ.get(name, "")
        if len(value) >= _MIN_SECRET_LENGTH:
            values.append(value)
            values += [match.group(2) for match in _CONNECTION_STRING_SECRETS.finditer(value)]
    return sorted(set(values), key=len, reverse=True)
