"""A writer that never keeps one pid: each generation forks its successor and exits (as a
daemon hops to leave its parent), appending to a file for the seconds it is given."""

import os
import sys
import time

path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
if os.fork():
    os._exit(0)
generation = 0
while time.monotonic() < end:
    if os.fork():
        os._exit(0)
    generation += 1
    if generation % 50 == 0:
        with open(path, "a") as out:
            out.write(f"generation {generation}\n")
