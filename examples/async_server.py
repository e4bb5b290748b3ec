"""asyncio example: a TCP server whose CPU work runs in own-GIL worker interpreters.

Each request line is a number n; the reply is the count of primes below n, computed in pure
Python by one of the workers (sub-interpreters, each with its own GIL, so they run in parallel
and the event loop stays free). The loop awaits the workers' results with `async for`; no thread
waits on its behalf.

Run it: python examples/async_server.py  (serves a few requests of its own, then stops)
"""

import asyncio
import os

import interpchan


def count_primes(jobs: interpchan.Receiver, results: interpchan.Sender) -> None:
    """A worker: runs in its own interpreter. Takes (job id, n), sends (job id, primes below n)."""
    with jobs, results:
        for job_id, n in jobs:
            sieve = bytearray([1]) * max(n, 2)
            sieve[0] = sieve[1] = 0
            for i in range(2, int(n**0.5) + 1):
                if sieve[i]:
                    sieve[i * i :: i] = bytes(len(range(i * i, n, i)))
            results.send((job_id, sum(sieve[:n])))


class Workers:
    """Hands jobs to worker interpreters and resolves each job's future when its result comes."""

    def __init__(self, count: int) -> None:
        self.jobs, jobs_rx = interpchan.channel(capacity=64)
        results_tx, self.results = interpchan.channel()
        self.workers = [interpchan.spawn(count_primes, jobs_rx, results_tx) for _ in range(count)]
        jobs_rx.close()  # spawn holds its own handles
        results_tx.close()
        self.pending: dict[int, asyncio.Future[int]] = {}
        self.next_id = 0

    async def run(self, n: int) -> int:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.jobs.send_async((self.next_id, n))  # waits (without blocking) while full
        return await future

    async def dispatch(self) -> None:
        async for job_id, count in self.results:  # ends once every worker has closed
            self.pending.pop(job_id).set_result(count)

    def close(self) -> None:
        self.jobs.close()  # the workers' loops end, then they close their result senders


async def main() -> None:
    workers = Workers(count=os.cpu_count() or 2)
    dispatcher = asyncio.create_task(workers.dispatch())

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(b"%d\n" % await workers.run(int(line)))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client(numbers: list[int]) -> list[int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for n in numbers:
            writer.write(b"%d\n" % n)
            replies.append(int(await reader.readline()))
        writer.close()
        return replies

    # Three clients at once; the loop stays responsive while the workers compute.
    results = await asyncio.gather(client([10, 100]), client([1000, 10_000]), client([100_000]))
    print(results)  # [[4, 25], [168, 1229], [9592]]
    server.close()
    await server.wait_closed()
    workers.close()
    await dispatcher
    for worker in workers.workers:
        worker.join()


if __name__ == "__main__":
    asyncio.run(main())
