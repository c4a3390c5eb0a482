"""Everything one data-plane request carries from ingress to its usage record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lockgate.wire.types import ChatRequest, EmbeddingRequest, Usage

if TYPE_CHECKING:
    from lockgate.errors import GatewayError
    from lockgate.guards.decisions import GuardDecision
    from lockgate.identity.principal import Principal
    from lockgate.observability.tracing import RequestTrace
    from lockgate.pipeline.policy import Policy
    from lockgate.routing.trace import RouteTrace
    from lockgate.runtime import ModelRoute, Runtime, Target


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str  # chat | embeddings | count_tokens | models
    ingress: str  # the ingress format's name
    headers: list[tuple[bytes, bytes]]
    client_ip: str
    runtime: Runtime
    started: float  # monotonic
    # The verified client-certificate subject ({"CN": ..., "O": ...}) when TLS with client
    # certificates is terminated by this server; and whether the socket peer is a trusted
    # proxy (then ``client_ip`` came from X-Forwarded-For). Set before authentication.
    client_cert: Mapping[str, str] | None = None
    peer_trusted: bool = False
    received_at: float = 0.0  # wall clock (epoch seconds), for records and calendar limits
    principal: Principal | None = None
    model: str | None = None  # the model the client asked for
    model_route: ModelRoute | None = None  # its route, set once access was granted
    chat: ChatRequest | None = None  # a policy may replace it; handlers read it after admit
    embedding: EmbeddingRequest | None = None
    # What actually served (set by the router on every attempt; the last one answered):
    target: Target | None = None
    served_model: str | None = None  # the model after fallbacks
    attempts: int = 0
    routing: RouteTrace | None = None  # why it went there: skips, failures, fallbacks
    # Accounting, settled after the response:
    usage: Usage | None = None
    usage_estimated: bool = False
    cost: float | None = None  # USD, at the serving deployment's price
    prompt_estimate: int | None = None  # counted prompt tokens, shared by the policies
    status: int = 200
    error: GatewayError | None = None
    decided_by: str | None = None  # the policy that rejected or answered the request
    cache: str | None = None  # hit | miss | bypass, on routes whose model caches
    cache_saved_tokens: int = 0  # tokens a cache hit did not spend upstream
    guard_decisions: tuple[GuardDecision, ...] = ()  # blocks, redactions, flags (no text)
    # API products (POST /apis/{name}/{version}): the API and version called, for the
    # subscription check and usage records, and the plan its subscription carries.
    api: str | None = None
    api_version: int | None = None
    api_plan: str | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    # Monotonic span of the upstream work: routing (attempts, backoffs) to the last byte.
    upstream_started: float | None = None
    upstream_ended: float | None = None
    payload: tuple[str, str] | None = None  # (request, response) of an opted-in tenant, capped
    trace: RequestTrace | None = None  # set when tracing is on and an attempt was made
    client_disconnected: bool = False
    # Request fields the serving provider did not get (a cross-format call), for the header
    # and the request log; empty for same-format passthrough.
    dropped_params: tuple[str, ...] = ()
    passthrough: bool = False  # the attempt that served sent the client's own body
    # A policy read the prompt's text (an input guard): the provider then gets the request
    # re-encoded from what was read, never the client's body with fields nobody scanned.
    prompt_inspected: bool = False
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Pipeline bookkeeping: how far on_request got, and each admitting policy's state.
    policies_ran: int = 0
    kept: list[tuple[Policy, object]] = field(default_factory=list)

    @property
    def served_by(self) -> str | None:
        """``provider/model`` of the deployment that answered (or was tried last)."""
        return self.target.key if self.target is not None else None

    @property
    def fallback(self) -> bool:
        return self.served_model is not None and self.served_model != self.model

    def failed(self, err: GatewayError) -> None:
        """Record the error that answers this request, without its traceback.

        The traceback's frames reference this context, which references the error: kept, that
        cycle would leave every failed request (task, buffers and all) to the cyclic collector.
        """
        err.__traceback__ = None
        err.__context__ = None
        self.error = err
        self.status = err.http_status

    def header(self, name: bytes) -> bytes | None:
        """First value of a request header; ``name`` lower-case."""
        for key, value in self.headers:
            if key == name:
                return value
        return None
