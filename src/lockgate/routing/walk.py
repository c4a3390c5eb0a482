"""One request's walk along its chain of models: eligibility, notes and the final error.

A ``Walk`` is what the router knows about the request while it routes it: the deadline, the
last error, the prompt estimate (computed once, only when a model declares a context window),
which models were skipped and why. It decides the answer when nothing could serve: the last
error an attempt or a context-window check produced, else 403 when residency excluded every
deployment, else 503 naming the models whose deployments were all unavailable.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.errors import (
    GatewayError,
    InvalidRequest,
    NoDeploymentAvailable,
    PermissionDenied,
    UpstreamError,
    UpstreamStatusError,
)
from lockgate.pipeline.context import RequestContext
from lockgate.routing.deadline import Deadline
from lockgate.routing.trace import RouteTrace
from lockgate.runtime import ModelRoute, Target
from lockgate.usage.tokens import estimate_request, estimate_text


def is_failure(err: UpstreamError, retry_on: frozenset[int]) -> bool:
    """Whether an attempt's error counts against its deployment (breaker, error rate): a
    connect error, a timeout, a broken response, a retryable status. A 4xx the request caused
    means the deployment answered."""
    if isinstance(err, UpstreamStatusError):
        return err.upstream_status in retry_on or err.may_retry
    return True


class Walk(Deadline):
    """The request's deadline (it starts with the walk), plus what routing learned on it."""

    __slots__ = (
        "_unavailable",
        "ctx",
        "first",
        "last",
        "overflow_floor",
        "resident",
        "sized",
        "streaming",
    )

    def __init__(self, ctx: RequestContext, first: ModelRoute, now: float) -> None:
        # Deadline.__init__, inlined: a walk is made for every request.
        self.total = first.timeouts.total
        self.at = now + self.total
        self.model = first.name
        self.ctx = ctx
        self.first = first
        self.last: GatewayError | None = None
        chat = ctx.chat
        self.streaming = ctx.route == "chat" and chat is not None and chat.stream
        self.sized = ctx.route != "count_tokens"  # counting a prompt needs no window
        self.resident = False  # some model had a deployment in the caller's regions
        self.overflow_floor: int | None = None  # after a context-length error: need more
        self._unavailable: list[str] | None = None

    def trace(self) -> RouteTrace:
        trace = self.ctx.routing
        if trace is None:
            trace = self.ctx.routing = RouteTrace()
        return trace

    def note(self, model: str, deployment: str | None, outcome: str, detail: str = "") -> None:
        self.trace().add(model, deployment, outcome, detail)

    # --- which models may serve --------------------------------------------------------------

    def eligible(self, route: ModelRoute) -> Sequence[Target] | None:
        """The route's deployments in the caller's regions, or None (with a note) when the
        route cannot serve this request at all."""
        principal = self.ctx.principal
        residency = principal.residency if principal is not None else ()
        targets: Sequence[Target] = route.targets
        window, floor = route.context_window, self.overflow_floor
        if not self.sized:
            window = floor = None
        if not residency and window is None and floor is None:
            self.resident = True
            return targets
        if residency:
            targets = [t for t in targets if t.region in residency]
            if not targets:
                self.note(route.name, None, "skipped", "no deployment in the caller's regions")
                return None
        self.resident = True
        if window is None and floor is None:
            return targets
        need = self.prompt_tokens()
        if floor is not None and (window is None or window <= floor):
            self.note(route.name, None, "skipped", f"needs a context window above {floor}")
            return None
        if window is not None and need > window:
            self.note(route.name, None, "skipped", f"prompt ~{need} tokens > window {window}")
            if self.last is None:
                self.last = InvalidRequest(
                    f"the prompt (about {need} tokens) exceeds the context window of model "
                    f"'{route.name}' ({window} tokens) and no fallback with a larger window "
                    "can serve it",
                    code="context_length_exceeded",
                    param="messages",
                )
            return None
        return targets

    def prompt_tokens(self) -> int:
        """The prompt estimate: a policy's when one set it, else counted here once and kept
        on the context for the policies that run after routing."""
        ctx = self.ctx
        if ctx.prompt_estimate is not None:
            return ctx.prompt_estimate
        if ctx.chat is not None:
            ctx.prompt_estimate = estimate_request(ctx.chat)
            return ctx.prompt_estimate
        if ctx.embedding is not None:  # each input must fit on its own
            return max((estimate_text(t) for t in ctx.embedding.inputs), default=0)
        return 0

    def overflowed(self, route: ModelRoute, err: UpstreamStatusError) -> None:
        """The provider said the prompt does not fit: only a larger window may serve it."""
        window = route.context_window
        known = window if window is not None else self.prompt_tokens()
        self.overflow_floor = max(self.overflow_floor or 0, known)
        size = f"{window} tokens" if window is not None else "its context window"
        self.note(route.name, None, "context window exceeded", err.message)
        self.last = InvalidRequest(
            f"the prompt does not fit the context window of model '{route.name}' ({size}) "
            f"and no fallback with a larger window can serve it; {err.message}",
            code="context_length_exceeded",
            param="messages",
        )

    # --- when nothing served -----------------------------------------------------------------

    def unavailable(self, route: ModelRoute) -> NoDeploymentAvailable:
        """Every deployment of ``route`` is behind an open breaker or failing its health
        check: the error that lets routing fall back, and says so if nothing else serves."""
        trace = self.ctx.routing
        why = sorted(
            {
                f"{s.deployment}: {s.detail}"
                for s in (trace.steps if trace is not None else ())
                if s.model == route.name and s.outcome == "skipped" and s.deployment
            }
        )
        detail = f"model '{route.name}' ({'; '.join(why) or 'no deployment'})"
        if self._unavailable is None:
            self._unavailable = []
        self._unavailable.append(detail)
        return NoDeploymentAvailable(
            "no deployment can serve now: " + ", then ".join(self._unavailable)
        )

    def failure(self) -> GatewayError:
        if self.last is not None:
            return self.last
        if not self.resident:
            principal = self.ctx.principal
            regions = principal.residency if principal is not None else ()
            return PermissionDenied(
                f"residency policy: no deployment of model '{self.first.name}' is in an "
                f"allowed region ({', '.join(regions)})",
                code="residency_denied",
            )
        return NoDeploymentAvailable(f"model '{self.first.name}': no deployment could be tried")
