"""The slice of the ECS API the runner uses, so a local stand-in can take ECS's place."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, cast

import botocore.session
from botocore.paginate import Paginator

if TYPE_CHECKING:
    from collections.abc import Callable


class EcsApi(Protocol):
    """What the runner calls: boto3's ECS client, or :class:`s3fargate.local.ecs.LocalEcs`."""

    def run_task(self, **kwargs: Any) -> Any:
        """ECS RunTask."""

    def get_paginator(self, operation_name: str) -> Any:
        """A paginator; the runner asks for ``"list_tasks"``."""


@cache
def _paginator_models(service: str, operation: str) -> tuple[Any, Any]:
    session = botocore.session.get_session()
    name = "".join(part.capitalize() for part in operation.split("_"))
    config = session.get_paginator_model(service).get_paginator(name)
    return config, session.get_service_model(service).operation_model(name)


def botocore_paginator(service: str, operation: str, method: Callable[..., Any]) -> Paginator[Any]:
    """botocore's own paginator for ``service.operation`` over any callable answering it.

    Lets a stand-in for a client offer ``get_paginator(...)`` with exactly the client's paging
    behaviour, without writing pagination again.
    """
    config, model = _paginator_models(service, operation)
    # The stubs type ``method`` as the operation name; botocore calls it with the page kwargs.
    return Paginator(cast("Any", method), config, model)


def list_tasks_paginator(list_tasks: Callable[..., Any]) -> Paginator[Any]:
    """botocore's ListTasks paginator over any ``list_tasks`` callable (ECS stand-ins)."""
    return botocore_paginator("ecs", "list_tasks", list_tasks)
