"""Authorises each call of a component against its role's policies, as IAM does.

An :class:`Authority` knows the components by the access key their clients sign with (each
component of the local pipeline has its own, as each Lambda and the task have their own role
on AWS): a call signed by one of them is allowed only if its role's policies allow every
authorisation the call needs (:mod:`s3fargate.iam.actions`); a call signed by any other key
(the pipeline's own plumbing, the user's uploads) is not checked. It is one JSON document, so
the embedded server (a process of its own) and the ECS stand-in (in ``dev``) read the same.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3fargate.iam.actions import Need, World
from s3fargate.iam.policy import Decision, Policy, Request, evaluate

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Lambda and Fargate call AWS over HTTPS: TLS-only conditions hold for every component.
SECURE = {"aws:SecureTransport": True}


@dataclass(frozen=True)
class Identity:
    """A component's role: its name, ARN and identity policies, and a hint for a denial."""

    name: str
    role_arn: str
    policies: tuple[Policy, ...]
    hint: str = ""

    @property
    def caller(self) -> str:
        """The caller as AWS names it in an AccessDenied message (an assumed-role session)."""
        account, role = self.role_arn.split(":")[4], self.role_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sts::{account}:assumed-role/{role}/{self.name}"


@dataclass(frozen=True)
class Denial:
    """A call IAM refuses: the first authorisation it lacks."""

    identity: Identity
    need: Need
    decision: Decision

    @property
    def message(self) -> str:
        """AWS's AccessDenied message, and a hint saying how to grant it."""
        why = (
            "with an explicit deny in an identity-based policy"
            if self.decision is Decision.DENIED
            else f"because no identity-based policy allows the {self.need.action} action"
        )
        text = (
            f"User: {self.identity.caller} is not authorized to perform: {self.need.action} "
            f"on resource: {self.need.resource} {why}"
        )
        return f"{text} ({self.identity.hint})" if self.identity.hint else text


@dataclass
class Authority:
    """The components' identities by access key, and the world their calls act on."""

    identities: dict[str, Identity]
    world: World
    #: Where every authorisation checked is appended (JSON lines), for tests that prove each
    #: grant is needed; None: not recorded.
    record: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def identity(self, access_key: str | None) -> Identity | None:
        """The component that signs with ``access_key`` (None: not a component's)."""
        return self.identities.get(access_key or "")

    def identity_named(self, name: str) -> Identity:
        """The component called ``name``."""
        return next(i for i in self.identities.values() if i.name == name)

    def check(self, identity: Identity, needs: Iterable[Need]) -> Denial | None:
        """The first authorisation of ``needs`` that the identity's policies refuse, or None
        when every one is allowed."""
        for need in needs:
            decision = self.decide(identity, need)
            if decision is not Decision.ALLOWED:
                return Denial(identity, need, decision)
        return None

    def decide(self, identity: Identity, need: Need) -> Decision:
        """IAM's answer to one authorisation (recorded when a record file is set)."""
        request = Request(identity.role_arn, need.action, need.resource, {**SECURE, **need.context})
        decision = evaluate(
            request,
            resource_policy=None,
            identity_policies=identity.policies,
            account=self.world.account,
        )
        if self.record is not None:
            line = json.dumps(
                {
                    "identity": identity.name,
                    "action": need.action,
                    "resource": need.resource,
                    "context": need.context,
                    "decision": decision.name,
                }
            )
            with self._lock, self.record.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        return decision

    # --- one JSON document ---------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The authority as one JSON object (:meth:`from_json` reads it back)."""
        return {
            "world": {
                "account": self.world.account,
                "region": self.world.region,
                "partition": self.world.partition,
                "topic_keys": dict(self.world.topic_keys),
                "task_definition_roles": {
                    k: list(v) for k, v in self.world.task_definition_roles.items()
                },
            },
            "identities": {
                key: {
                    "name": i.name,
                    "role_arn": i.role_arn,
                    "policies": list(i.policies),
                    "hint": i.hint,
                }
                for key, i in self.identities.items()
            },
            "record": str(self.record) if self.record else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Authority:
        """The authority :meth:`to_json` wrote."""
        world = data["world"]
        return cls(
            identities={
                key: Identity(
                    name=i["name"],
                    role_arn=i["role_arn"],
                    policies=tuple(i["policies"]),
                    hint=i.get("hint", ""),
                )
                for key, i in data["identities"].items()
            },
            world=World(
                account=world["account"],
                region=world["region"],
                partition=world.get("partition", "aws"),
                topic_keys=dict(world.get("topic_keys", {})),
                task_definition_roles={
                    k: tuple(v) for k, v in world.get("task_definition_roles", {}).items()
                },
            ),
            record=Path(data["record"]) if data.get("record") else None,
        )

    def save(self, path: Path) -> None:
        """Write the authority to ``path``."""
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Authority:
        """The authority :meth:`save` wrote to ``path``."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
