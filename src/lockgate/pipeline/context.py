"""Everything one data-plane request carries from ingress to its usage record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lockgate.wire.types import ChatRequest, EmbeddingRequest, Usage

if TYPE_CHECKING:
    from lockgate.errors import GatewayError
    from lockgate.runtime import Runtime


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str  # chat | embeddings | count_tokens | models
    ingress: str  # the ingress format's name
    headers: list[tuple[bytes, bytes]]
    client_ip: str
    runtime: Runtime
    started: float
    principal: Any = None  # lockgate.identity Principal once authenticated
    model: str | None = None
    chat: ChatRequest | None = None
    embedding: EmbeddingRequest | None = None
    served_by: str | None = None  # "provider/model" of the attempt that answered
    attempts: int = 0
    policies_ran: int = 0
    usage: Usage | None = None
    usage_estimated: bool = False
    status: int = 200
    error: GatewayError | None = None
    first_token_at: float | None = None
    finished_at: float | None = None
    client_disconnected: bool = False
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

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
