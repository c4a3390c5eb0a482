"""The configuration document (SPEC section 4) as strict, frozen pydantic models.

Unknown keys are errors (``extra="forbid"``); numbers accept ``k``/``M`` suffixes; durations
accept ``ms``/``s``/``m``/``h``. Secrets are ``SecretStr`` so they never print. Cross-references
(a deployment's provider, a fallback, a plan's models) are checked by ``loader.check_references``
so that every problem is reported at once with its YAML path.

Validator messages never include the offending value: the loader decides whether it may be
echoed (not when it came from ``${env:...}`` or sits in a secret-bearing field).
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from lockgate.alerts.events import EVENTS, event_pattern_known
from lockgate.config.apis import ApiConfig, ApiName
from lockgate.providers.types import ProviderType, required_settings

_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_SCALE = {"": 1, "k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would take true as 1
        raise ValueError("expected a number")
    if isinstance(value, str):
        m = _NUMBER.match(value)
        if not m:
            raise ValueError("not a number (use digits with an optional k or M, e.g. 100k, 1M)")
        n = float(m.group(1)) * _SCALE[m.group(2)]
        return int(n) if n.is_integer() else n
    return value


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError("not a duration (examples: 250ms, 5s, 2m, 1h)")
        return float(m.group(1)) * _SECONDS[m.group(2)]
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like 5s")
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("not an IP address or network (e.g. 10.0.0.0/8, 2001:db8::/32)") from None
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone (use an IANA name such as Europe/Berlin)") from None
    return value


def _condition(value: str) -> str:
    from lockgate.policies.rules import check_condition

    check_condition(value)
    return value


def _jwks(value: dict[str, Any]) -> dict[str, Any]:
    from lockgate.identity.jwks import check_key_set

    check_key_set(value)
    return value


Count = Annotated[float, BeforeValidator(_number), Field(ge=0)]
Seconds = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
Network = Annotated[str, AfterValidator(_network)]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
CelCondition = Annotated[str, AfterValidator(_condition)]  # checked (and line-reported) at load
Operation = Literal["chat", "embeddings", "messages", "count_tokens"]
JwtAlgorithm = Literal["RS256", "ES256", "EdDSA", "Ed25519"]
JWT_ALGORITHMS: tuple[JwtAlgorithm, ...] = ("RS256", "ES256", "EdDSA", "Ed25519")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- server, storage, auth -----------------------------------------------------------------


class TlsConfig(Strict):
    """TLS terminated by the lean server; the files are re-read on every config reload."""

    cert: str  # PEM certificate chain
    key: str  # PEM private key
    client_ca: str | None = None  # PEM CA bundle that signs client certificates
    client_auth: Literal["optional", "required"] | None = None  # default: optional with a CA

    @model_validator(mode="after")
    def _client_auth_needs_ca(self) -> TlsConfig:
        if self.client_auth is not None and self.client_ca is None:
            raise ValueError("client_auth needs client_ca (the CA that signs client certificates)")
        return self


Bytes = Annotated[int, BeforeValidator(_number), Field(gt=0)]


class ServerLimitsConfig(Strict):
    """What one client may cost the lean HTTP server (``lockgate.serving.ServerLimits``);
    0 turns a count limit or ``max_loop_lag`` off."""

    max_header_bytes: Bytes = 64 * 1024
    max_headers: int = Field(default=100, gt=0)
    header_timeout: Seconds = 10.0
    body_timeout: Seconds = 30.0
    keepalive_timeout: Seconds = 75.0
    send_timeout: Seconds = 30.0
    max_pipelined: int = Field(default=32, gt=0)
    max_discard_bytes: Annotated[int, BeforeValidator(_number), Field(ge=0)] = 1024 * 1024
    linger_time: Seconds = 30.0
    linger_timeout: Seconds = 5.0
    max_requests_per_connection: int = Field(default=10_000, ge=0)
    max_connections: int = Field(default=4096, ge=0)
    max_connections_per_ip: int = Field(default=256, ge=0)
    max_in_flight: int = Field(default=2048, ge=0)
    max_loop_lag: Seconds = 0.5
    retry_after: int = Field(default=1, ge=1, le=3600)


class UpstreamPoolConfig(Strict):
    """The upstream client: keep-alive pools per origin and bounds on what a provider sends."""

    pool_size: int = Field(default=256, gt=0)  # connections per origin, busy + idle
    max_idle: int = Field(default=64, ge=0)  # idle connections kept per origin
    idle_ttl: Seconds = 60.0  # an idle connection older than this is closed
    max_stream_bytes: Bytes = 64 * 1024 * 1024  # bytes of one streamed response
    max_event_bytes: Bytes = 4 * 1024 * 1024  # bytes of one server-sent event


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    admin_keys: list[SecretStr] = Field(default_factory=list)
    trusted_proxies: list[Network] = Field(default_factory=list)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_admin_body_bytes: Bytes = 64 * 1024
    max_embedding_inputs: int = Field(default=2048, gt=0)
    shutdown_grace: Seconds = 30.0
    tls: TlsConfig | None = None
    limits: ServerLimitsConfig = ServerLimitsConfig()
    upstream: UpstreamPoolConfig = UpstreamPoolConfig()
    web_ui: bool = True  # /console, /portal and /ui/static (built on first use)


class JwtClaims(Strict):
    tenant: str = "org"
    app: str = "client_id"
    user: str = "sub"
    roles: str = "roles"


class JwtIssuer(Strict):
    issuer: str
    audience: str | list[str]
    jwks_url: str | None = None
    jwks: Annotated[dict[str, Any], AfterValidator(_jwks)] | None = None
    claims: JwtClaims = JwtClaims()
    # Asymmetric algorithms only: an HMAC algorithm would let a public key sign tokens.
    algorithms: list[JwtAlgorithm] = Field(
        default_factory=lambda: list(JWT_ALGORITHMS), min_length=1
    )
    clock_skew: Seconds = Field(default=30.0, le=300)  # leeway on exp / nbf / iat

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtIssuer:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url or jwks")
        return self


SubjectAttribute = Literal[
    "CN", "O", "OU", "C", "L", "ST", "DC", "UID", "emailAddress", "serialNumber"
]


class MtlsConfig(Strict):
    subject_claims: dict[Literal["tenant", "app", "user"], SubjectAttribute] = Field(
        default_factory=dict
    )
    # Behind a TLS-terminating proxy: the request header carrying the verified client
    # certificate's subject (an RFC 4514 DN, or Envoy's x-forwarded-client-cert). Read only
    # from peers in server.trusted_proxies.
    header: str | None = None

    @model_validator(mode="after")
    def _tenant_and_app(self) -> MtlsConfig:
        if "tenant" not in self.subject_claims or "app" not in self.subject_claims:
            raise ValueError("subject_claims must map tenant and app (e.g. {tenant: O, app: CN})")
        return self


class ApiKeysConfig(Strict):
    # The server secret keys are hashed with (HMAC-SHA256). Without it: $LOCKGATE_KEY_SECRET,
    # else a secret generated at first start and kept beside the store.
    hash_secret: SecretStr | None = None
    rotation_grace: Seconds = Field(default=3600.0, le=366 * 86400)  # old key's life on rotate


class AuthConfig(Strict):
    jwt: list[JwtIssuer] = Field(default_factory=list)
    mtls: MtlsConfig | None = None
    api_keys: ApiKeysConfig = ApiKeysConfig()


# --- providers and models ------------------------------------------------------------------


def _health_path(value: str) -> str:
    if not value.startswith("/") or any(c in value for c in " \r\n"):
        raise ValueError("must be a path on the provider's host, starting with / (e.g. /v1/models)")
    return value


class HealthCheck(Strict):
    """An active check: GET ``path`` on the provider's host every ``interval``; a 2xx answer
    within ``timeout`` is healthy, anything else takes the provider's deployments out of
    selection until a check passes again."""

    path: Annotated[str, AfterValidator(_health_path)]
    interval: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 30.0
    timeout: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 5.0


class ProviderConfig(Strict):
    type: ProviderType
    api_key: SecretStr | None = None
    base_url: str | None = None
    api_version: str | None = None
    region: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    health_check: HealthCheck | None = None

    @model_validator(mode="after")
    def _required_for_type(self) -> ProviderConfig:
        needed = required_settings(self.type, has_base_url=self.base_url is not None)
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"type {self.type} requires {' and '.join(missing)}")
        if self.health_check is not None and self.type == "mock":
            raise ValueError("a mock provider runs in-process: it has no host to health-check")
        return self


Routing = Literal["weighted", "round-robin", "least-busy", "least-latency", "lowest-cost"]


class Price(Strict):
    input: float = Field(default=0.0, ge=0)  # USD per 1M tokens
    output: float = Field(default=0.0, ge=0)
    cached_input: float | None = Field(default=None, ge=0)  # cache reads
    cache_write: float | None = Field(default=None, ge=0)  # cache writes (creation)


class Deployment(Strict):
    provider: str
    model: str
    weight: float = Field(default=1.0, ge=0)
    region: str | None = None  # overrides the provider's region
    price: Price | None = None  # overrides the model's price (for lowest-cost routing)
    priority: int = Field(default=1, ge=1)  # tier: 2 serves only while every 1 is unavailable


class RetryConfig(Strict):
    attempts: int = Field(default=2, ge=0, le=10)
    backoff: Seconds = 0.25
    max_backoff: Seconds = 4.0
    on: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])


class TimeoutConfig(Strict):
    connect: Seconds = 5.0
    first_token: Seconds = 30.0
    idle: Seconds = 30.0
    total: Seconds = 300.0


class CircuitBreakerConfig(Strict):
    window: Seconds = 30.0
    min_requests: int = Field(default=20, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    open_for: Seconds = 30.0
    probes: int = Field(default=3, ge=1)


CacheScope = Literal["tenant", "app", "key", "global"]


class CacheConfig(Strict):
    """A model's response cache (SPEC 4b); the policy is ``lockgate.cache.policy``."""

    mode: Literal["exact", "semantic"]
    ttl: Annotated[float, BeforeValidator(_duration), Field(gt=0)] = 600.0
    scope: CacheScope = "tenant"
    threshold: float | None = Field(default=None, gt=0, le=1)  # semantic only

    @model_validator(mode="after")
    def _semantic_only(self) -> CacheConfig:
        if self.threshold is not None and self.mode != "semantic":
            raise ValueError("threshold applies to mode semantic only")
        return self


class ModelConfig(Strict):
    deployments: list[Deployment] = Field(min_length=1)
    kind: Literal["chat", "embedding"] | None = None  # None: serves the route it is called on
    routing: Routing = "weighted"
    price: Price | None = None  # None: the shipped price table, by deployment
    context_window: int | None = Field(default=None, gt=0)
    default_max_tokens: int = Field(default=4096, gt=0)
    retry: RetryConfig = RetryConfig()
    timeout: TimeoutConfig = TimeoutConfig()
    circuit_breaker: CircuitBreakerConfig | None = None
    fallbacks: list[str] = Field(default_factory=list)
    max_in_flight: int | None = Field(default=None, gt=0)
    queue_timeout: Seconds = 10.0
    cache: CacheConfig | None = None


# --- plans, roles, tenants, policies -------------------------------------------------------

Period = Literal["second", "minute", "hour", "day", "month"]
Scope = Literal["key", "app", "tenant", "user", "ip", "global"]


class Limit(Strict):
    requests: Count | None = None
    tokens: Count | None = None
    cost: Count | None = None
    per: Period
    burst: Count = 0
    scope: Scope | None = None
    model: Literal["each"] | None = None
    tz: TimeZone | None = None
    alert_at: list[Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=list)
    on_state_error: Literal["fail_open", "fail_closed"] | None = None  # None: per measure

    @model_validator(mode="after")
    def _one_measure(self) -> Limit:
        given = [k for k in ("requests", "tokens", "cost") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a limit names exactly one of requests, tokens or cost")
        calendar = self.per in ("day", "month")
        if calendar and self.burst:
            raise ValueError("burst applies to second, minute and hour limits only")
        if not calendar and self.tz is not None:
            raise ValueError("tz applies to day and month limits only")
        if not calendar and self.alert_at:
            raise ValueError("alert_at applies to day and month limits (budgets and quotas) only")
        return self

    @property
    def measure(self) -> Literal["requests", "tokens", "cost"]:
        if self.requests is not None:
            return "requests"
        return "tokens" if self.tokens is not None else "cost"

    @property
    def amount(self) -> float:
        value = self.requests if self.requests is not None else self.tokens
        return float(value if value is not None else self.cost or 0.0)


class Plan(Strict):
    models: list[str] = Field(default_factory=lambda: ["*"])
    priority: Literal["low", "normal", "high"] = "normal"
    limits: list[Limit] = Field(default_factory=list)


class Role(Strict):
    models: list[str] = Field(default_factory=list)
    operations: list[Operation] | None = None  # None: every operation


class AppSeed(Strict):
    plan: str | None = None
    roles: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    allow_ips: list[Network] = Field(default_factory=list)
    deny_ips: list[Network] = Field(default_factory=list)


class TenantSeed(Strict):
    plan: str | None = None
    residency: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    allow_ips: list[Network] = Field(default_factory=list)
    deny_ips: list[Network] = Field(default_factory=list)
    apps: dict[str, AppSeed] = Field(default_factory=dict)


class PolicyMatch(Strict):
    models: list[str] = Field(default_factory=list)
    tenants: list[str] = Field(default_factory=list)
    apps: list[str] = Field(default_factory=list)  # app names, or "tenant/app"
    routes: list[Operation] = Field(default_factory=list)
    ips: list[Network] = Field(default_factory=list)


class RouteShare(Strict):
    model: str
    weight: float = Field(gt=0)


class RouteSpec(Strict):
    """``route:`` of a policy: where the requests its ``match`` covers are served, when
    ``when`` holds (always without it). Exactly one of ``model`` (another model serves),
    ``deployments`` (only these ``provider/model`` deployments of the requested model serve)
    or ``split`` (a weighted share per model, sticky per ``sticky``: a canary)."""

    when: CelCondition | None = None
    model: str | None = None
    deployments: list[str] = Field(default_factory=list)
    split: list[RouteShare] = Field(default_factory=list)
    sticky: Literal["key", "app", "tenant", "user"] = "key"

    @model_validator(mode="after")
    def _one_target(self) -> RouteSpec:
        given = [k for k in ("model", "deployments", "split") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of model, deployments or split")
        if "sticky" in self.model_fields_set and not self.split:
            raise ValueError("sticky applies to a split only")
        return self


def _pattern(value: str) -> str:
    from lockgate.guards.patterns import check_pattern

    check_pattern(value)
    return value


Pattern = Annotated[str, AfterValidator(_pattern)]
GuardType = Literal["pii", "secrets", "prompt_injection", "deny", "schema"]


class GuardConfig(Strict):
    """One guard of a policy (SPEC 4b); which keys each ``type`` takes is checked below and
    the guard is compiled by ``lockgate.guards.spec``."""

    type: GuardType
    name: str | None = None  # in messages and records; default: the type
    on: list[Literal["input", "output"]] | None = Field(default=None, min_length=1)
    action: Literal["block", "redact", "flag"] = "block"
    entities: list[str] | None = None  # pii, secrets: a subset of the known kinds
    custom: dict[str, Pattern] = Field(default_factory=dict)  # pii: NAME -> regex
    phone_region: str = "US"  # pii: region of phone numbers written without +country
    patterns: list[Pattern] = Field(default_factory=list)  # deny
    threshold: float = Field(default=0.8, gt=0, le=1)  # prompt_injection

    @model_validator(mode="after")
    def _keys_of_type(self) -> GuardConfig:
        from lockgate.guards.patterns import guard_problems

        problem = guard_problems(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def sides(self) -> frozenset[str]:
        """Where the guard runs: ``on``, else output for schema and input for the rest."""
        if self.on is not None:
            return frozenset(self.on)
        return frozenset({"output" if self.type == "schema" else "input"})


class PolicyRule(Strict):
    name: str
    match: PolicyMatch | None = None
    allow_if: CelCondition | None = None
    deny_if: CelCondition | None = None
    limits: list[Limit] = Field(default_factory=list)
    deny_ips: list[Network] = Field(default_factory=list)
    allow_ips: list[Network] = Field(default_factory=list)
    route: RouteSpec | None = None  # conditional routing and canaries (routing/rules.py)
    guards: list[GuardConfig] = Field(default_factory=list)


def _event_pattern(value: str) -> str:
    if not event_pattern_known(value):
        known = ", ".join(sorted(EVENTS))
        raise ValueError(f"unknown event (known: {known}; or family.* or *)")
    return value


def _webhook_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class Webhook(Strict):
    url: Annotated[str, AfterValidator(_webhook_url)]
    events: list[Annotated[str, AfterValidator(_event_pattern)]] = Field(default_factory=list)
    secret: SecretStr | None = None  # signs each delivery (HMAC-SHA256)


class ErrorRateAlert(Strict):
    """``model.error_rate`` when the share of a model's calls that failed (5xx, upstream
    errors) over ``window`` exceeds ``above``; ``.resolved`` once it is back under."""

    type: Literal["error_rate"]
    models: list[str] = Field(default_factory=lambda: ["*"])
    above: float = Field(gt=0, le=1)
    window: Seconds = Field(default=300.0, gt=0)
    min_requests: int = Field(default=20, ge=1)


class LatencyAlert(Strict):
    """``model.latency`` when a model's latency percentile over ``window`` exceeds ``above``."""

    type: Literal["latency"]
    models: list[str] = Field(default_factory=lambda: ["*"])
    above: Seconds = Field(gt=0)
    percentile: float = Field(default=95.0, gt=0, le=100)
    measure: Literal["total", "ttft"] = "total"
    window: Seconds = Field(default=300.0, gt=0)
    min_requests: int = Field(default=20, ge=1)


AlertRule = Annotated[ErrorRateAlert | LatencyAlert, Field(discriminator="type")]


class AlertsConfig(Strict):
    webhooks: list[Webhook] = Field(default_factory=list)
    rules: list[AlertRule] = Field(default_factory=list)


# --- observability: usage records, payload capture, request log, metrics, tracing ----------


class UsageConfig(Strict):
    queue_size: int = Field(default=100_000, ge=100)  # records held before new ones are dropped
    batch_size: int = Field(default=500, ge=1, le=10_000)
    flush_interval: Seconds = Field(default=1.0, gt=0, le=60)


class PayloadsConfig(Strict):
    tenants: list[str] = Field(default_factory=list)  # tenants that opted in to payload storage
    max_bytes: Count = Field(default=16384, gt=0, le=1_048_576)  # per request and per response


class MetricsConfig(Strict):
    enabled: bool = True
    require_admin_key: bool = False


class TracingConfig(Strict):
    endpoint: Annotated[str, AfterValidator(_webhook_url)]  # OTLP/HTTP, e.g. .../v1/traces
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    service_name: str = "lockgate"
    sample_ratio: float = Field(default=1.0, ge=0, le=1)


def _off(value: Any) -> Any:
    return "off" if value is False else value  # YAML reads a bare `off` as false


class ObservabilityConfig(Strict):
    usage: UsageConfig = UsageConfig()
    payloads: PayloadsConfig = PayloadsConfig()
    # One JSON line per request on the lockgate.requests logger, at this level.
    request_log: Annotated[Literal["debug", "info", "warning", "off"], BeforeValidator(_off)] = (
        "info"
    )
    metrics: MetricsConfig = MetricsConfig()
    tracing: TracingConfig | None = None


class Config(Strict):
    version: Literal[1]
    server: ServerConfig = ServerConfig()
    storage: str = "sqlite:///./.lockgate/lockgate.db"
    state: str = "memory"
    default_plan: str | None = None
    auth: AuthConfig = AuthConfig()
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    plans: dict[str, Plan] = Field(default_factory=dict)
    roles: dict[str, Role] = Field(default_factory=dict)
    tenants: dict[str, TenantSeed] = Field(default_factory=dict)
    policies: list[PolicyRule] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    apis: dict[ApiName, ApiConfig] = Field(default_factory=dict)

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:///PATH or postgresql://... URL")
        return value

    @field_validator("state")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be memory or a redis:// or rediss:// URL")
        return value

    @model_validator(mode="after")
    def _mtls_header_needs_proxies(self) -> Config:
        mtls = self.auth.mtls
        if mtls is not None and mtls.header and not self.server.trusted_proxies:
            raise ValueError(
                "auth.mtls.header is read only from server.trusted_proxies; list the proxies"
            )
        return self
