"""A Pool under random task failures and worker deaths: every future resolves exactly once."""

from __future__ import annotations

import random
import threading
from concurrent.futures import Future

import pool_tasks
import pytest

import interpchan

TIMEOUT = 120


@pytest.mark.parametrize("seed", [20261201, 1, 2])
def test_every_future_resolves_exactly_once_under_failures_and_deaths(seed: int) -> None:
    rng = random.Random(seed)
    actions = rng.choices(["ok", "raise", "die"], weights=[85, 10, 5], k=400)
    resolutions: dict[int, int] = {}
    lock = threading.Lock()

    def count(future: Future[int]) -> None:
        with lock:
            resolutions[id(future)] = resolutions.get(id(future), 0) + 1

    submitters = []
    futures: list[tuple[str, int, Future[int]]] = []
    with interpchan.Pool(3, max_tasks_per_worker=50) as pool:

        def submit_share(share: list[tuple[int, str]]) -> None:
            for i, action in share:
                future = pool.submit(pool_tasks.hammer_task, action, i)
                future.add_done_callback(count)
                with lock:
                    futures.append((action, i, future))

        indexed = list(enumerate(actions))
        for k in range(4):  # four threads submit at once
            thread = threading.Thread(target=submit_share, args=(indexed[k::4],))
            submitters.append(thread)
            thread.start()
        for thread in submitters:
            thread.join(TIMEOUT)
        for _, _, future in futures:
            future.exception(TIMEOUT)  # resolved in time, whatever the outcome
    assert len(futures) == len(actions)
    assert all(resolutions[id(f)] == 1 for _, _, f in futures)
    died = 0
    for action, i, future in futures:
        error = future.exception()
        if action == "ok":
            # Tasks sent ahead to a worker that died go back to the queue: none is lost.
            assert error is None, (action, i, error)
            assert future.result() == i * 2
        elif action == "raise":
            assert isinstance(error, KeyError) and error.args == (i,)
        else:
            assert isinstance(error, interpchan.WorkerError), error
            died += 1
    assert died == actions.count("die") > 0
