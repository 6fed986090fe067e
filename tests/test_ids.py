"""Card ids (``cds/ids.py``): version-4 UUIDs, never repeated across threads or forked workers."""

from __future__ import annotations

import os
import threading
import uuid

from cds.ids import new_uuid


def test_ids_are_random_version_4_uuids() -> None:
    ids = [new_uuid() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_threads_do_not_share_a_batch() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_uuid() for _ in range(500))

    threads = [threading.Thread(target=draw, args=(bucket,)) for bucket in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for bucket in found for i in bucket]
    assert len(set(every)) == 2_000


def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    new_uuid()  # the parent now holds a batch with 63 ids left
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its next ids and leave at once
        os.write(write, ",".join(new_uuid() for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    childs = set(os.read(read, 4096).decode().split(","))
    os.close(read)
    parents = {new_uuid() for _ in range(8)}
    assert len(childs) == 8
    assert not childs & parents
