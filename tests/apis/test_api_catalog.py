"""Compiled versions: lifecycle headers in their RFC formats, sunsets, config definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from lockgate.apis.catalog import ProductIndex, config_index, lifecycle_headers
from lockgate.config.models import Config
from lockgate.store.product_records import ApiProduct, ApiVersion

SUNSET = datetime(2027, 6, 30, tzinfo=UTC)
DEPRECATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def version(status: str = "deprecated", **fields: object) -> ApiVersion:
    return ApiVersion(version=1, status=status, model="m", template="{{ text }}", **fields)  # type: ignore[arg-type]


def test_deprecation_and_sunset_headers_use_their_rfc_formats() -> None:
    v = version(deprecated_at=DEPRECATED, sunset=SUNSET, successor=2)
    headers = dict(lifecycle_headers("summarize", v, loaded=0.0))
    # RFC 9745: a structured-field date, "@" and the Unix time in seconds
    assert headers[b"deprecation"] == f"@{int(DEPRECATED.timestamp())}".encode()
    # RFC 8594: an HTTP-date (IMF-fixdate)
    assert headers[b"sunset"] == b"Wed, 30 Jun 2027 00:00:00 GMT"
    assert parsedate_to_datetime(headers[b"sunset"].decode()) == SUNSET
    assert headers[b"link"] == b'</apis/summarize/v2>; rel="successor-version"'


def test_only_deprecated_versions_carry_a_deprecation_header() -> None:
    published = lifecycle_headers("x", version("published", sunset=SUNSET, successor=2), 0.0)
    assert published == ((b"sunset", b"Wed, 30 Jun 2027 00:00:00 GMT"),)
    assert lifecycle_headers("x", version("published"), 0.0) == ()
    # without a recorded deprecation time, the time the definition was loaded
    assert lifecycle_headers("x", version(), 1234.9) == ((b"deprecation", b"@1234"),)


def test_a_version_past_its_sunset_is_retired() -> None:
    api = ApiProduct("summarize", None, "manual", (version(sunset=SUNSET),))
    compiled = ProductIndex([api]).version("summarize", 1)
    assert compiled is not None
    assert compiled.status_at(SUNSET.timestamp() - 1) == "deprecated"
    assert compiled.status_at(SUNSET.timestamp()) == "retired"


def test_unchanged_versions_are_not_compiled_again() -> None:
    api = ApiProduct("a", "acme", "auto", (version("published"),))
    first = ProductIndex([api])
    second = ProductIndex([api], previous=first)
    assert second.version("a", 1) is first.version("a", 1)
    changed = ApiProduct("a", "acme", "auto", (version("deprecated"),))
    assert ProductIndex([changed], previous=first).version("a", 1) is not first.version("a", 1)


def test_config_apis_in_both_forms() -> None:
    cfg = Config.model_validate(
        {
            "version": 1,
            "providers": {"demo": {"type": "mock"}},
            "models": {"m": {"deployments": [{"provider": "demo", "model": "x"}]}},
            "apis": {
                "one": {"version": 1, "model": "m", "template": "Hi {{ name }}"},
                "two": {
                    "tenant": "acme",
                    "subscription": "auto",
                    "versions": [
                        {
                            "version": 1,
                            "model": "m",
                            "template": "a",
                            "status": "deprecated",
                            "sunset": "2027-06-30",
                            "successor": 2,
                        },
                        {"version": 2, "model": "m", "template": "b"},
                    ],
                },
            },
        }
    )
    index = config_index(cfg.apis, now=100.0)
    one = index.version("one", 1)
    assert one is not None and one.status == "published" and one.owner is None
    old = index.version("two", 1)
    assert old is not None and old.owner == "acme" and old.successor == 2
    assert dict(old.headers)[b"deprecation"] == b"@100"
    assert dict(old.headers)[b"sunset"] == b"Wed, 30 Jun 2027 00:00:00 GMT"
    assert [a.source for a in index.apis()] == ["config", "config"]
