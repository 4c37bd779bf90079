"""A TCP proxy on 127.0.0.1 that caps every connection at a fixed rate, both ways.

It stands in for S3's per-connection throughput in front of the local server: one connection
gets ``rate`` bytes/s however fast the server is, so reading with N connections can be up to
N times faster, as on AWS. Run: ``python -m bench.throttle_proxy UPSTREAM_PORT RATE_BYTES``;
it prints its own port on the first line of stdout, then serves until terminated.
"""

from __future__ import annotations

import asyncio
import sys
import time

LOOPBACK = "127.0.0.1"
READ_SIZE = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    """Copy ``reader`` to ``writer`` at most ``rate`` bytes/s (a token bucket, 64 KiB burst)."""
    start = time.monotonic()
    sent = 0
    try:
        while data := await reader.read(READ_SIZE):
            sent += len(data)
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                await asyncio.sleep(ahead)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _serve(upstream_port: int, rate: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(LOOPBACK, upstream_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, rate), _pump(server_r, client_w, rate))

    server = await asyncio.start_server(handle, LOOPBACK, 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Entry point: ``UPSTREAM_PORT RATE_BYTES``."""
    upstream_port, rate = int(sys.argv[1]), float(sys.argv[2])
    asyncio.run(_serve(upstream_port, rate))


if __name__ == "__main__":
    main()
