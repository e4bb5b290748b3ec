"""A small pure-Python reader and writer of interpchan's bridge wire format (versions 1 and 2).

What a plain pyzmq program needs to talk to a bridge (docs/bridge.md has the full format):
None, bool, int (64-bit), float, str, bytes, tuple, list, dict and copied buffers.
"""

from __future__ import annotations

import struct
from typing import Any

MAGIC = b"ICHN"
VERSION, VERSION_BATCH = 1, 2
KIND_ITEM, KIND_END, KIND_BATCH = 1, 2, 3
T_NONE, T_FALSE, T_TRUE, T_INT, T_FLOAT, T_STR, T_BYTES = 0x00, 0x01, 0x02, 0x03, 0x05, 0x07, 0x09
T_TUPLE, T_LIST, T_DICT, T_BUFFER = 0x0A, 0x0B, 0x0C, 0x0F


def header(kind: int, stream: bytes, seq: int) -> bytes:
    return MAGIC + bytes([VERSION, kind]) + stream + struct.pack("<Q", seq)


def encode(stream: bytes, seq: int, obj: Any) -> list[bytes]:
    """Frames of one item message: header, body, buffers."""
    body = bytearray()
    frames: list[bytes] = []

    def put(o: Any) -> None:
        if o is None:
            body.append(T_NONE)
        elif o is True or o is False:
            body.append(T_TRUE if o else T_FALSE)
        elif isinstance(o, int):
            body.append(T_INT)
            body.extend(struct.pack("<q", o))
        elif isinstance(o, float):
            body.append(T_FLOAT)
            body.extend(struct.pack("<d", o))
        elif isinstance(o, (str, bytes)):
            data = o.encode() if isinstance(o, str) else o
            body.append(T_STR if isinstance(o, str) else T_BYTES)
            body.extend(struct.pack("<Q", len(data)) + data)
        elif isinstance(o, (tuple, list)):
            body.append(T_TUPLE if isinstance(o, tuple) else T_LIST)
            body.extend(struct.pack("<Q", len(o)))
            for x in o:
                put(x)
        elif isinstance(o, dict):
            body.append(T_DICT)
            body.extend(struct.pack("<Q", len(o)))
            for k, v in o.items():
                put(k)
                put(v)
        elif isinstance(o, memoryview):
            fmt = o.format.encode()
            body.append(T_BUFFER)
            body.extend(struct.pack("<Q", len(fmt)) + fmt)
            body.extend(struct.pack("<QQ", o.itemsize, o.ndim))
            body.extend(b"".join(struct.pack("<Q", d) for d in o.shape))
            frames.append(o.tobytes())
        else:
            raise TypeError(f"wire_py cannot encode {type(o).__name__}")

    put(obj)
    return [header(KIND_ITEM, stream, seq), bytes(body), *frames]


def encode_batch(stream: bytes, first: int, objs: list[Any]) -> list[bytes]:
    """Frames of one batch message (version 2): items first, first + 1, ... (no buffers)."""
    bodies = [encode(stream, 0, o)[1] for o in objs]
    body = struct.pack("<Q", len(bodies)) + b"".join(struct.pack("<Q", len(b)) + b for b in bodies)
    head = MAGIC + bytes([VERSION_BATCH, KIND_BATCH]) + stream + struct.pack("<Q", first)
    return [head, body]


def decode(frames: list[bytes]) -> tuple[str, bytes, int, list[Any]]:
    """("items" or "end", stream id, first item's sequence number or the count, the items).

    An item message holds one item; a batch (version 2) several, none with buffers.
    """
    head = frames[0]
    kind, stream, (seq,) = head[5], head[6:22], struct.unpack("<Q", head[22:30])
    version = VERSION_BATCH if kind == KIND_BATCH else VERSION
    assert head[:4] == MAGIC and head[4] == version and len(head) == 30, head
    if kind == KIND_END:
        return ("end", stream, seq, [])
    if kind == KIND_BATCH:
        (count,), at, items = struct.unpack_from("<Q", frames[1]), 8, []
        for _ in range(count):
            (n,) = struct.unpack_from("<Q", frames[1], at)
            items.append(decode_body(frames[1][at + 8 : at + 8 + n], []))
            at += 8 + n
        assert at == len(frames[1])
        return ("items", stream, seq, items)
    return ("items", stream, seq, [decode_body(frames[1], frames[2:])])


def decode_body(body: bytes, frames: list[bytes]) -> Any:
    """One item from its body and buffer frames."""
    bufs, pos = iter(frames), 0

    def u64() -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<Q", body, pos)
        pos += 8
        return v

    def take(n: int) -> bytes:
        nonlocal pos
        pos += n
        return bytes(body[pos - n : pos])

    def get() -> Any:
        nonlocal pos
        tag = body[pos]
        pos += 1
        if tag in (T_NONE, T_FALSE, T_TRUE):
            return {T_NONE: None, T_FALSE: False, T_TRUE: True}[tag]
        if tag == T_INT:
            return struct.unpack("<q", take(8))[0]
        if tag == T_FLOAT:
            return struct.unpack("<d", take(8))[0]
        if tag in (T_STR, T_BYTES):
            data = take(u64())
            return data.decode() if tag == T_STR else data
        if tag in (T_TUPLE, T_LIST):
            items = [get() for _ in range(u64())]
            return tuple(items) if tag == T_TUPLE else items
        if tag == T_DICT:
            return {get(): get() for _ in range(u64())}
        if tag == T_BUFFER:
            fmt = take(u64()).decode()
            _itemsize, ndim = u64(), u64()
            shape = [u64() for _ in range(ndim)]
            return memoryview(next(bufs)).cast("B").cast(fmt, shape)
        raise ValueError(f"wire_py: tag {tag:#x} not handled here")

    item = get()
    assert pos == len(body)
    return item
