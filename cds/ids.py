"""Random ids (UUID version 4) for cards and suggestions, drawn from the OS 64 at a time.

A request issues about ten of them; ``uuid.uuid4()`` makes one ``getrandom`` system call each,
which under load showed as 6 % of the service's profile. The bytes are the same kind (the OS's
CSPRNG), only fetched in batches. Each thread has its own batch, and a forked child starts with
none, so no two processes or threads can hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_BATCH = 64  # ids per system call


class _Batch(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.offset = 0


_batch = _Batch()


def _forget_after_fork() -> None:
    global _batch
    _batch = _Batch()


os.register_at_fork(after_in_child=_forget_after_fork)


def new_uuid() -> str:
    """A random UUID (version 4, RFC 4122 variant) as its canonical string."""
    batch = _batch
    if batch.offset >= len(batch.data):
        batch.data, batch.offset = os.urandom(16 * _BATCH), 0
    raw = bytearray(batch.data[batch.offset : batch.offset + 16])
    batch.offset += 16
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
