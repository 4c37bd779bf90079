"""The construct's role policies for each component, as the local pipeline enforces them.

``pipeline_policies.json`` holds the identity policies the construct synthesizes for the
runner's, the tracker's and the reconciler's roles and the task role, with each resource a
named placeholder (``{bucket}``, ``{table}``, ``{cluster}`` …). The local pipeline has no CDK
(``make demo`` does not install it), so it reads them from here and renders them with its own
names. ``make policies`` writes the file from a synthesis, and a test fails when it and the
construct disagree, so what ``dev`` enforces is exactly what ``cdk deploy`` grants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from s3fargate.iam.policy import Policy

POLICIES_FILE = Path(__file__).with_name("pipeline_policies.json")
#: The components with a role of their own.
COMPONENTS = ("runner", "tracker", "reconciler", "task")
#: The placeholders the policies hold, each a name (not an ARN) but for the account and
#: Region; ARNs are built around them as the template builds them.
SYMBOLS = (
    "account",
    "region",
    "bucket",
    "queue",
    "events_queue",
    "table",
    "topic",
    "topic_key",
    "cluster",
    "family",
    "task_role",
    "execution_role",
    "task_log_group",
)


def symbolic_policies() -> dict[str, list[Policy]]:
    """Each component's policies as the file holds them (placeholders unrendered)."""
    data: dict[str, list[Policy]] = json.loads(POLICIES_FILE.read_text(encoding="utf-8"))
    return data


def render(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every ``{symbol}`` replaced by its name in ``names``.

    Raises:
        KeyError: a symbol without a name.
    """
    missing = set(SYMBOLS) - set(names)
    if missing:
        raise KeyError(f"no name for {', '.join(sorted(missing))}")
    if isinstance(value, str):
        for symbol in SYMBOLS:
            value = value.replace("{" + symbol + "}", names[symbol])
        return value
    if isinstance(value, list):
        return [render(v, names) for v in value]
    if isinstance(value, dict):
        return {k: render(v, names) for k, v in value.items()}
    return value


def component_policies(names: Mapping[str, str]) -> dict[str, list[Policy]]:
    """Each component's policies, rendered with ``names``."""
    rendered: dict[str, list[Policy]] = render(symbolic_policies(), names)
    return rendered
