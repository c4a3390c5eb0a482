"""The one error tree of Lockgate.

Every failure a client can see is a ``GatewayError``. Each subclass knows its HTTP status, the
error ``type``/``code`` it carries in the OpenAI envelope, the ``type`` it carries in the
Anthropic envelope, and whether routing may retry the attempt or fall back to another model::

    GatewayError                       status  retry  fallback
    ├── InvalidRequest                 400     no     no
    │   └── ContentPolicyViolation     400     no     no     (a guard blocked the text)
    ├── AuthenticationFailed           401     no     no
    ├── PermissionDenied               403     no     no
    ├── NotFound                       404     no     no
    ├── MethodNotAllowed               405     no     no
    ├── Gone                           410     no     no     (a retired API version)
    ├── PayloadTooLarge                413     no     no
    ├── RateLimited                    429     no     no     (a Lockgate limit said no)
    ├── QuotaExceeded                  429     no     no     (a quota or budget said no)
    ├── InternalError                  500     no     no     (never carries internals)
    ├── InvalidOutput                  502     no     no     (an API's answer broke its schema)
    ├── ServiceUnavailable             503     no     no     (Lockgate cannot decide now)
    └── UpstreamError                  502     yes    yes    (a provider failed)
        ├── UpstreamStatusError        the provider's own status: 4xx not retried, 429/5xx are
        ├── UpstreamConnectError       502     yes    yes
        ├── UpstreamProtocolError      502     yes    yes
        ├── UpstreamTimeout            504     yes    yes
        ├── ResponseFormatViolation    502     no     no     (the answer failed its schema)
        └── NoDeploymentAvailable      503     no     no     (breakers open, nothing to try)

The message always says which policy or component decided, in words a developer can act on.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class GatewayError(Exception):
    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "api_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers: dict[str, str] = headers or {}

    @property
    def http_status(self) -> int:
        return self.status

    @property
    def anthropic_status(self) -> int:
        """The status on Anthropic routes: the same, but for an overloaded Anthropic provider,
        whose 529 Anthropic's SDKs know (``OverloadedError``, retried)."""
        return self.http_status

    @property
    def may_retry(self) -> bool:
        return self.retryable

    @property
    def may_fall_back(self) -> bool:
        return self.fallback

    def openai_body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": self.openai_type,
                    "code": self.code,
                    "param": self.param,
                }
            }
        )

    def anthropic_body(self) -> bytes:
        return orjson.dumps(
            {"type": "error", "error": {"type": self.anthropic_type, "message": self.message}}
        )


class InvalidRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class ContentPolicyViolation(InvalidRequest):
    """A guard blocked the prompt or the response; the message names the policy and the guard,
    never the text that matched."""

    default_code = "content_policy_violation"


class AuthenticationFailed(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"
    default_code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class Gone(GatewayError):
    status = 410
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_code = "gone"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    openai_type = "requests"
    anthropic_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(GatewayError):
    status = 429
    openai_type = "insufficient_quota"
    anthropic_type = "rate_limit_error"
    default_code = "insufficient_quota"


class MethodNotAllowed(GatewayError):
    status = 405
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "method_not_allowed"


class InternalError(GatewayError):
    status = 500
    openai_type = "api_error"
    anthropic_type = "api_error"
    default_code = "internal_error"


class InvalidOutput(GatewayError):
    """The model answered, but not with JSON valid against an API product's output schema."""

    status = 502
    openai_type = "api_error"
    anthropic_type = "api_error"
    default_code = "invalid_output"


class ServiceUnavailable(GatewayError):
    """Lockgate itself cannot serve the request now (e.g. a fail-closed limit whose state
    backend is unreachable); the client may retry after ``retry-after``."""

    status = 503
    openai_type = "api_error"
    anthropic_type = "overloaded_error"
    default_code = "service_unavailable"


class UpstreamError(GatewayError):
    status = 502
    openai_type = "api_error"
    anthropic_type = "api_error"
    default_code = "upstream_error"
    retryable = True
    fallback = True


class UpstreamConnectError(UpstreamError):
    default_code = "upstream_connect_error"


class UpstreamProtocolError(UpstreamError):
    default_code = "upstream_protocol_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"


class ResponseFormatViolation(UpstreamError):
    """The model's answer does not match the request's ``response_format`` schema, also after
    the schema guard's one repair request."""

    default_code = "response_format_violation"
    retryable = False
    fallback = False


class NoDeploymentAvailable(UpstreamError):
    status = 503
    anthropic_type = "overloaded_error"
    default_code = "no_deployment_available"
    retryable = False
    fallback = True


_RETRYABLE_UPSTREAM = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class UpstreamStatusError(UpstreamError):
    """A provider answered with an error status.

    Client errors the provider reports (400, 404, 422...) are the caller's to fix and pass
    through with their status; auth failures towards the provider are Lockgate's
    misconfiguration, so the client sees 502; overload and server errors may be retried.
    """

    def __init__(
        self,
        upstream_status: int,
        message: str,
        *,
        provider: str,
        upstream_type: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        context_overflow: bool = False,
    ) -> None:
        self.upstream_status = upstream_status
        self.provider = provider
        self.upstream_type = upstream_type
        self.retry_after = retry_after
        # The provider said the prompt does not fit the model's context window: routing
        # moves to a fallback with a larger window instead of passing the 400 through.
        self.context_overflow = context_overflow
        super().__init__(message, code=upstream_type or "upstream_error", param=param)

    @property
    def http_status(self) -> int:
        s = self.upstream_status
        if s in (401, 403, 407):
            return 502
        if s == 429:
            return 429
        if 400 <= s < 500:
            return s
        if s in (503, 529):
            return 503
        if s == 504:
            return 504
        return 502

    @property
    def anthropic_status(self) -> int:
        return 529 if self.upstream_status == 529 else self.http_status

    @property
    def may_retry(self) -> bool:
        return self.upstream_status in _RETRYABLE_UPSTREAM

    @property
    def may_fall_back(self) -> bool:
        return self.may_retry or self.upstream_status in (401, 403, 404)

    def openai_body(self) -> bytes:
        status = self.http_status
        if status == 429:
            kind = "rate_limit_exceeded"
        elif status < 500:
            kind = "invalid_request_error"
        else:
            kind = "api_error"
        return orjson.dumps(
            {
                "error": {
                    "message": self.message,
                    "type": kind,
                    "code": self.code,
                    "param": self.param,
                }
            }
        )

    def anthropic_body(self) -> bytes:
        status = self.http_status
        kinds = {
            400: "invalid_request_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            503: "overloaded_error",
        }
        kind = kinds.get(status, "invalid_request_error" if status < 500 else "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": self.message}})


def describe(exc: BaseException) -> dict[str, Any]:
    """A log-safe summary of an unexpected exception (no message text, which may hold data)."""
    return {"exception": type(exc).__name__}
