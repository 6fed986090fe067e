"""Hot reload of the rule pack, on a change under the rules directory and on SIGHUP.

A reload validates and compiles the new pack in a thread (requests keep being served), then swaps
it in with one assignment, ``runtime.live = LivePack(pack, engine)``: a request reads
``runtime.live`` once, so it sees the old pair or the new one, never half of each. An invalid
pack is refused: the last good one keeps serving, and the problems (``path:line:col: error CODE
message``, rule files only, never patient data) are logged and shown by ``/readyz`` until a later
reload succeeds.

One reload runs at a time. Triggers that arrive during a reload ask for one more run after it,
however many they are. Files identical to the live pack's (same pack hash) are not compiled
again: durable-rules rulesets are never deleted (see :mod:`cds.engine`), so every compilation
costs memory for the life of the process.

SIGHUP: a single-process server handles it on its event loop (:meth:`Reloader.own_sighup`). A
process that already has a SIGHUP handler keeps it (the workers of ``cds serve --workers N``,
whose handler calls :meth:`Reloader.trigger_threadsafe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from watchfiles import Change, DefaultFilter, awatch

from cds import heap
from cds.api import LivePack
from cds.engine import RuleEngine
from cds.observability import log
from cds.rules.pack import YAML_SUFFIXES, RulePack, check_pack, hash_pack_files
from cds.rules.problems import Problem

DEBOUNCE_MS = 200  # changes closer together than this make one reload
STEP_MS = 50  # quiet time after which a batch of changes is reported (within DEBOUNCE_MS)
WATCH_RETRY_S = 1.0  # delay before watching again after the watcher failed
STOP_TIMEOUT_S = 5.0
MAX_PROBLEMS = 50  # problems kept in /readyz and the log line (the count is always given)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveHolder(Protocol):
    """What the reloader swaps the pack of (:class:`cds.api.Runtime`)."""

    live: LivePack


class InvalidPackError(Exception):
    """The files do not make a valid pack; the live pack stays."""

    def __init__(self, pack_hash: str | None, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the rule pack")
        self.pack_hash = pack_hash
        self.problems = problems


@dataclass(frozen=True)
class FailedReload:
    at: datetime
    trigger: str
    pack_hash: str | None  # of the refused files (None when they could not be read)
    problems: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "trigger": self.trigger,
            "pack_hash": self.pack_hash,
            "problem_count": len(self.problems),
            "problems": list(self.problems[:MAX_PROBLEMS]),
        }


def _shown(problem: Problem, directory: Path) -> str:
    """``rules/area/file.yaml:3:1: error E104 …``: the path from the pack's parent directory."""
    with contextlib.suppress(ValueError):
        problem = replace(problem, path=problem.path.relative_to(directory.parent))
    return str(problem)


def build_live_pack(directory: Path, include_drafts: bool, current: RulePack) -> LivePack | None:
    """Blocking: check and compile the pack in ``directory``. None when its files are those of
    ``current`` (nothing to do); raises :class:`InvalidPackError` when the pack is invalid."""
    try:
        digest: str | None = hash_pack_files(directory)
    except OSError:  # a file vanished while being read (an editor's save): check_pack says more
        digest = None
    if digest == current.pack_hash and include_drafts == current.include_drafts:
        return None
    pack, problems = check_pack(directory, include_drafts=include_drafts)
    if pack is None:
        raise InvalidPackError(digest, [_shown(p, directory) for p in problems])
    return LivePack(pack, RuleEngine(pack))


class _RuleFileFilter(DefaultFilter):
    """Rule pack files (and directories, which may hold some), minus editors' temporary files."""

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        yaml_file = path.lower().endswith(YAML_SUFFIXES)
        return yaml_file or change == Change.deleted or os.path.isdir(path)


class Reloader:
    """Reloads the rule pack of ``holder`` on demand (:meth:`trigger`), from a watcher of
    ``directory`` (:meth:`start` with ``watch=True``) and from SIGHUP (:meth:`own_sighup`)."""

    def __init__(
        self,
        holder: LiveHolder,
        directory: Path,
        *,
        include_drafts: bool = False,
        build: Callable[[RulePack], LivePack | None] | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._holder = holder
        self.directory = directory
        self._build = build or (lambda current: build_live_pack(directory, include_drafts, current))
        self._now = now
        self.loaded_at = now()
        self.last_error: FailedReload | None = None
        self.watching = False
        self.attempts = 0  # reloads finished, whatever their outcome
        self._wanted = asyncio.Event()
        self._reason = "startup"
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    # --- triggers -------------------------------------------------------------------------

    def trigger(self, reason: str) -> None:
        """Ask for a reload. Call it on the event loop's thread (or before :meth:`start`, when
        the request waits for the start). During a reload, any number of calls make one more."""
        self._reason = reason
        self._wanted.set()

    def trigger_threadsafe(self, reason: str) -> None:
        """:meth:`trigger` from another thread or a ``signal.signal`` handler (takes no lock)."""
        loop = self._loop
        if loop is None:
            self.trigger(reason)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            loop.call_soon_threadsafe(self.trigger, reason)

    def own_sighup(self) -> Callable[[], None]:
        """Reload on SIGHUP, through the running event loop; returns the function that puts
        the previous disposition back. Does nothing outside the main thread (a server run in
        a thread by tests) or when SIGHUP already has a handler (a supervisor's worker)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGHUP)
        if previous not in (signal.SIG_DFL, signal.SIG_IGN):
            log.info("sighup_left_to_existing_handler")
            return lambda: None
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (NotImplementedError, RuntimeError, ValueError) as exc:
            log.warning("sighup_unavailable", error=str(exc))
            return lambda: None

        def restore() -> None:
            loop.remove_signal_handler(signal.SIGHUP)
            signal.signal(signal.SIGHUP, previous)

        return restore

    def _on_sighup(self) -> None:
        log.info("sighup", message="rule-pack reload requested")
        self.trigger("SIGHUP")

    # --- life cycle -----------------------------------------------------------------------

    async def start(self, *, watch: bool) -> None:
        """Run reloads as they are asked for, and watch the directory when ``watch``."""
        # From here on, trigger_threadsafe goes through the loop; earlier triggers are carried
        # over to the new events (bound to this loop: a TestClient may start the app twice).
        self._loop = asyncio.get_running_loop()
        pending = self._wanted.is_set()
        self._wanted, self._stop = asyncio.Event(), asyncio.Event()
        if pending:
            self._wanted.set()
        self._runner = asyncio.create_task(self._run(), name="rule-pack reloader")
        if watch:
            self.watching = True
            self._watcher = asyncio.create_task(self._watch(), name="rule-pack watcher")

    async def stop(self) -> None:
        """Stop watching and reloading. A compilation still running in its thread finishes
        unseen (and is not swapped in)."""
        self._stop.set()
        self.watching = False
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._watcher is not None:
            with contextlib.suppress(TimeoutError):  # its thread sees the stop within STEP_MS
                await asyncio.wait_for(self._watcher, STOP_TIMEOUT_S)
        self._loop = None

    def status(self) -> dict[str, Any]:
        """The ``reload`` part of ``/readyz``."""
        failed = self.last_error
        return {
            "watching": self.watching,
            "loaded_at": self.loaded_at.isoformat(),
            "last_error": failed.as_json() if failed is not None else None,
        }

    # --- the work -------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()  # triggers from now on ask for the next run
            try:
                await self.reload(self._reason)
            except Exception as exc:  # never let the runner die: later triggers must work
                log.error("rules_reload_crashed", error=repr(exc))

    async def reload(self, reason: str) -> None:
        """One reload attempt (the runner calls it; only one at a time)."""
        current = self._holder.live
        started = time.perf_counter()
        try:
            fresh = await asyncio.to_thread(self._build, current.pack)
        except InvalidPackError as exc:
            self._refused(reason, current, exc.pack_hash, exc.problems)
            return
        except Exception as exc:  # anything else (I/O, the C engine): keep the live pack too
            self._refused(reason, current, None, [f"{self.directory}: error {exc!r}"])
            return
        finally:
            self.attempts += 1
        ms = round((time.perf_counter() - started) * 1000, 1)
        if fresh is None:
            self.last_error = None  # the live pack's files are back, and they were valid
            log.info("rules_unchanged", trigger=reason, pack=current.pack.pack_hash, ms=ms)
            return
        self._holder.live = fresh  # the swap: one assignment, between two requests' reads
        heap.settle()  # the new pack lives long too (~100 ms once per reload; the old one stays)
        self.loaded_at = self._now()
        self.last_error = None
        log.info(
            "rules_reloaded",
            trigger=reason,
            previous=current.pack.pack_hash,
            pack=fresh.pack.pack_hash,
            rules=len(fresh.pack.live_rules),
            ms=ms,
        )

    def _refused(
        self, reason: str, current: LivePack, pack_hash: str | None, problems: list[str]
    ) -> None:
        self.last_error = FailedReload(self._now(), reason, pack_hash, tuple(problems))
        log.error(
            "rules_reload_refused",
            trigger=reason,
            kept=current.pack.pack_hash,
            refused=pack_hash,
            problem_count=len(problems),
            problems=problems[:MAX_PROBLEMS],
        )

    async def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                async for changes in awatch(
                    self.directory,
                    watch_filter=_RuleFileFilter(),
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    stop_event=self._stop,
                ):
                    log.info("rules_changed", files=len(changes))
                    self.trigger("watch")
            except Exception as exc:  # the directory vanished, too many inotify watches, …
                log.warning("rules_watch_failed", directory=str(self.directory), error=repr(exc))
                self.watching = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), WATCH_RETRY_S)
                if not self._stop.is_set():
                    self.watching = True
                    self.trigger("watch")  # files may have changed while nobody watched
