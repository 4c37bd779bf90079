"""botocore's own paginators over any callable: stand-ins page exactly as the clients do."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.paginate import Paginator

if TYPE_CHECKING:
    from collections.abc import Callable


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
