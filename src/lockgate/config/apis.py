"""The ``apis:`` section of the config (SPEC section 4b): API products defined in the file.

Each API has one version inline (``version``, ``model``, ``template``...) or a list of
``versions``. Templates must compile in the sandbox and schemas must be valid JSON Schemas;
models, plans and successors are cross-checked by ``loader.check_references``. The admin API
lists these APIs but cannot change them.
"""

from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _api_template(value: str) -> str:
    from lockgate.apis.template import compile_template, environment

    compile_template(value, environment())
    return value


def _api_schema(value: dict[str, Any]) -> dict[str, Any]:
    from lockgate.apis.template import compile_schema

    compile_schema(value, "schema")
    return value


_API_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ApiTemplate = Annotated[str, Field(min_length=1, max_length=100_000), AfterValidator(_api_template)]
ApiSchema = Annotated[dict[str, Any], AfterValidator(_api_schema)]
ApiStatus = Literal["draft", "published", "deprecated", "retired"]
Moment = datetime.date | datetime.datetime


class _ApiVersionFields(_Strict):
    model: str | None = None
    template: ApiTemplate | None = None
    system: ApiTemplate | None = None
    input_schema: ApiSchema | None = None
    output_schema: ApiSchema | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    status: ApiStatus = "published"
    sunset: Moment | None = None  # a date (00:00 UTC) or a date-time
    deprecated_at: Moment | None = None  # the Deprecation header's date (default: load time)
    successor: int | None = Field(default=None, ge=1)  # the version to use instead


class ApiVersionConfig(_ApiVersionFields):
    version: int = Field(ge=1)
    model: str
    template: ApiTemplate


class ApiConfig(_ApiVersionFields):
    """An API product: one version inline (``version``, ``model``, ``template``...), or a
    list of ``versions``."""

    tenant: str | None = None  # the owning tenant (its admins approve); None: the platform
    description: str | None = Field(default=None, max_length=4000)
    subscription: Literal["auto", "manual"] = "manual"
    plan: str | None = None  # default plan of its subscriptions (limits per app on this API)
    version: int | None = Field(default=None, ge=1)
    versions: list[ApiVersionConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_form(self) -> ApiConfig:
        inline = [f for f in _ApiVersionFields.model_fields if f in self.model_fields_set] + (
            ["version"] if self.version is not None else []
        )
        if self.versions:
            if inline:
                raise ValueError(
                    f"give either versions or the fields of one version ({inline[0]}), not both"
                )
            numbers = [v.version for v in self.versions]
            if len(set(numbers)) != len(numbers):
                raise ValueError("two versions have the same number")
            return self
        missing = [f for f in ("version", "model", "template") if getattr(self, f) is None]
        if missing:
            raise ValueError(f"an API needs {', '.join(missing)} (or a list of versions)")
        return self

    def all_versions(self) -> list[ApiVersionConfig]:
        if self.versions:
            return list(self.versions)
        fields = {f: getattr(self, f) for f in _ApiVersionFields.model_fields}
        return [ApiVersionConfig(version=self.version or 1, **fields)]


def _api_name(value: str) -> str:
    if not _API_NAME.match(value):
        raise ValueError("API names are 1-64 letters, digits, '.', '_' or '-'")
    return value


ApiName = Annotated[str, AfterValidator(_api_name)]
