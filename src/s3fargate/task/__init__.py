"""The task-side SDK: everything a task program needs except its own processing.

```python
from s3fargate.task import S3Object, main

def process(obj: S3Object) -> dict[str, object]:
    lines = sum(chunk.count(b"\\n") for chunk in obj.chunks())
    return {"lines": lines}

if __name__ == "__main__":
    main(process)
```
"""

from s3fargate.task.config import TaskConfig
from s3fargate.task.exceptions import (
    ExitCode,
    ObjectUnavailableError,
    ResultWriteError,
    TaskConfigError,
    TaskError,
)
from s3fargate.task.runtime import main, run
from s3fargate.task.stream import S3Object

__all__ = [
    "ExitCode",
    "ObjectUnavailableError",
    "ResultWriteError",
    "S3Object",
    "TaskConfig",
    "TaskConfigError",
    "TaskError",
    "main",
    "run",
]
