"""README example: a numpy array (copied once) and a Buffer (moved) to an interpreter and back."""

import interpchan


def double(rx: interpchan.Receiver, tx: interpchan.Sender) -> None:
    """Runs in its own interpreter, with its own GIL (numpy cannot be imported there yet)."""
    with rx, tx:
        for view in rx:  # a writable memoryview over memory this interpreter now owns
            values = view.cast("B").cast("d")  # the same memory, seen as a flat run of doubles
            for i in range(len(values)):
                values[i] *= 2
            values.release()
            buf = view.obj  # the interpchan.Buffer that owns the memory
            view.release()
            tx.send(buf)  # moved back: no copy


if __name__ == "__main__":
    import numpy as np  # only here: the worker imports this file; numpy refuses sub-interpreters

    to_worker, worker_rx = interpchan.channel()
    worker_tx, from_worker = interpchan.channel()
    worker = interpchan.spawn(double, worker_rx, worker_tx)
    worker_rx.close()  # spawn holds its own handles
    worker_tx.close()

    to_worker.send(np.arange(6.0).reshape(2, 3))  # copied once; keeps dtype and shape
    print(np.asarray(from_worker.recv()).tolist())  # [[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]]

    buf = interpchan.Buffer(4 * 8)  # zero-filled memory owned by Rust
    np.frombuffer(buf, dtype=np.float64)[:] = [1, 2, 3, 4]
    to_worker.send(buf)  # moved: O(1) whatever the size
    print(buf.moved, len(buf))  # True 0: the sender can no longer reach it
    print(np.frombuffer(from_worker.recv(), dtype=np.float64).tolist())  # [2.0, 4.0, 6.0, 8.0]

    to_worker.close()
    worker.join()
