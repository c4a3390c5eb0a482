"""Secret detectors: provider and cloud API keys, private keys, JWTs, bearer tokens.

Each kind is a regular expression for a credential's documented shape (prefixes such as
``sk-ant-``, ``AKIA``, ``ghp_``); JWTs must also decode to a JSON header naming an ``alg``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import orjson

from lockgate.guards.detect import Detector, detector

_B = r"(?<![A-Za-z0-9_-])"  # a token boundary before
_E = r"(?![A-Za-z0-9_-])"  # and after


def valid_jwt(text: str) -> bool:
    head = text.split(".", 1)[0]
    try:
        data = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(data, dict) and "alg" in data


SECRETS: dict[str, str] = {
    "anthropic_key": _B + r"sk-ant-[A-Za-z0-9_-]{20,}" + _E,
    "openai_key": _B + r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}" + _E,
    "aws_access_key": r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
    "aws_secret_key": r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
    "google_api_key": _B + r"AIza[0-9A-Za-z_-]{35}" + _E,
    "github_token": _B + r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})" + _E,
    "gitlab_token": _B + r"glpat-[A-Za-z0-9_-]{20,}" + _E,
    "slack_token": _B + r"xox[abposr]-[A-Za-z0-9-]{10,}" + _E,
    "stripe_key": _B + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}" + _E,
    "azure_key": r"(?i:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{40,}={0,2}",
    "lockgate_key": _B + r"lg-[A-Za-z0-9_-]{32,}" + _E,
    "private_key": r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "jwt": _B + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}" + _E,
    "bearer_token": r"(?i:\bbearer)\s+[A-Za-z0-9._~+/-]{20,}=*(?![A-Za-z0-9._~+/=-])",
}
SECRET_KINDS = tuple(SECRETS)


def secret_detectors(kinds: Sequence[str] | None) -> tuple[Detector, ...]:
    wanted = SECRET_KINDS if kinds is None else tuple(kinds)
    return tuple(
        detector(kind, SECRETS[kind], valid_jwt if kind == "jwt" else None)
        for kind in SECRET_KINDS
        if kind in wanted
    )
