"""A service whose workers may crash: one select() waits for replies and worker ends at once.

Each worker serves requests from a shared channel. A "poison" request makes a worker raise; the
dispatcher sees the end of that worker in the same select() call that brings the replies, and
starts a new worker in its place.

Run: python examples/restart_service.py
"""

import interpchan


def serve(requests: interpchan.Receiver, replies: interpchan.Sender) -> None:
    """Runs in an own-GIL worker until the request channel closes (or a request kills it)."""
    with requests, replies:
        for request_id, text in requests:
            if text == "poison":
                raise RuntimeError(f"request {request_id} crashed the worker")
            replies.send((request_id, text.upper()))


def main() -> None:
    requests_tx, requests_rx = interpchan.channel()
    replies_tx, replies_rx = interpchan.channel()
    workers = [interpchan.spawn(serve, requests_rx, replies_tx) for _ in range(2)]

    texts = ["hello", "poison", "world", "interpreters", "poison", "channels", "poison", "bye"]
    for request_id, text in enumerate(texts):
        requests_tx.send((request_id, text))
    expected = sum(text != "poison" for text in texts)

    replies: dict[int, str] = {}
    crashed = 0
    while len(replies) < expected:
        ready, item = interpchan.select([replies_rx, *(w.ended for w in workers)])
        if ready is replies_rx:
            request_id, reply = item
            replies[request_id] = reply
            continue
        # A worker ended (item is False: it raised). Replace it; its error is in join().
        ended = next(w for w in workers if w.ended is ready)
        crashed += _crashed(ended)
        workers.remove(ended)
        workers.append(interpchan.spawn(serve, requests_rx, replies_tx))

    requests_tx.close()  # the workers' loops end once the channel is drained
    crashed += sum(_crashed(w) for w in workers)  # a poison request may come after the last reply
    print("replies:", [replies[i] for i in sorted(replies)])
    print("workers crashed (and were replaced while work remained):", crashed)


def _crashed(worker: interpchan.Worker) -> int:
    try:
        worker.join()
    except interpchan.WorkerError:
        return 1
    return 0


if __name__ == "__main__":
    main()
