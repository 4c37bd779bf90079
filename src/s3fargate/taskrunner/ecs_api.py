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
def _list_tasks_models() -> tuple[Any, Any]:
    session = botocore.session.get_session()
    config = session.get_paginator_model("ecs").get_paginator("ListTasks")
    return config, session.get_service_model("ecs").operation_model("ListTasks")


def list_tasks_paginator(list_tasks: Callable[..., Any]) -> Paginator[Any]:
    """botocore's own ListTasks paginator over any ``list_tasks`` callable.

    Lets a stand-in for ECS offer ``get_paginator("list_tasks")`` with exactly the client's
    paging behaviour, without writing pagination again.
    """
    config, model = _list_tasks_models()
    # The stubs type ``method`` as the operation name; botocore calls it with the page kwargs.
    return Paginator(cast("Any", list_tasks), config, model)
