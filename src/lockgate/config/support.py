"""Settings the schema accepts but this build does not enforce yet: refused at load.

A policy that validates and is then ignored is a security hole, so until a setting is
enforced, ``lockgate validate`` and ``serve`` reject it with a message saying so. Each entry
names the YAML path of a setting that is set to something other than its default; the work
that enforces a setting removes its entry here.
"""

from __future__ import annotations

from collections.abc import Iterator

from lockgate.config.models import Config
from lockgate.config.paths import join_path

NOT_YET = "is not supported yet: Lockgate would not enforce it, so the config is refused"


def unsupported_settings(cfg: Config) -> Iterator[tuple[str, str]]:
    """(YAML path, what) for every set value that is not enforced yet."""
    for i, rule in enumerate(cfg.policies):
        if rule.limits and rule.match is not None and rule.match.ips:
            at = join_path(join_path(join_path("policies", i), "match"), "ips")
            yield at, "match.ips on a policy with limits (use a limit with scope: ip)"
        if rule.guards and rule.match is not None and rule.match.ips:
            at = join_path(join_path(join_path("policies", i), "match"), "ips")
            yield at, "match.ips on a policy with guards"
