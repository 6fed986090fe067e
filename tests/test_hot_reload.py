"""Hot reload of the rule pack (:mod:`cds.reload`), against real ``cds serve`` processes on
127.0.0.1: a rule edit is picked up by the watcher (single process) and by SIGHUP (workers), a
broken pack is refused while the last good one keeps serving, and a fix clears the error. Plus
in-process tests of the reloader: coalesced triggers, refusal and recovery, unchanged files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hookrequests import hook_request, sample
from processes import alive as _alive
from processes import children as _children
from processes import wait_for as _wait_for
from service import free_port

from cds.api import LivePack
from cds.engine import RuleEngine
from cds.reload import Reloader
from cds.rules.pack import RulePack, load_pack

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
MINI_PACK = ROOT / "tests" / "data" / "mini-pack"
CDS = Path(sys.executable).parent / "cds"
RULE = Path("laboratory-monitoring") / "dhea-s-high.yaml"
PV = "/cds-services/neurosteroid-patient-view"
OLD_WORDING = "Dose may be supraphysiologic"
NEW_WORDING = "Dose may be too high"


# --- files -------------------------------------------------------------------------------


def _write(rules: Path, path: Path, text: str) -> None:
    """Replace a file at once (as editors do), so the watcher never sees half of it."""
    staging = rules.parent / "staging.tmp"  # outside the watched directory
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def _edit(rules: Path, *replacements: tuple[str, str]) -> str:
    """Rewrite the rule file from its original text with ``replacements``; the new text."""
    text = (RULES / RULE).read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    _write(rules, rules / RULE, text)
    return text


# the rule's version as the pack has it, and the one the tests' edit gives it
_VERSION_LINE = re.search(r"^version: (\S+)$", (RULES / RULE).read_text(encoding="utf-8"), re.M)
assert _VERSION_LINE is not None
OLD = _VERSION_LINE[1]
NEW = "99.0.0"
BUMP = (f"version: {OLD}", f"version: {NEW}")
REWORD = (OLD_WORDING, NEW_WORDING)


@contextmanager
def _server(tmp: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``cds serve ARGS`` on a copy of the rule pack; yields the process, base URL and pack."""
    rules = tmp / "rules"
    shutil.copytree(RULES, rules)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        CDS_AUTH="off",
        CDS_DATABASE_URL=f"sqlite:///{tmp / 'cds.db'}",
        CDS_RULES_DIR=str(rules),
        CDS_LOG_LEVEL="info",
    )
    out = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(CDS), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{port}"
    children: set[int] = set()
    try:
        _wait_for("/readyz", lambda: process.poll() is None and _readyz(base), timeout=60)
        yield process, base, rules
    finally:
        children |= _children(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for pid in children:  # never leave a worker behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        out.close()


def _log(tmp: Path) -> str:
    return (tmp / "serve.log").read_text(encoding="utf-8", errors="replace")


def _events(tmp: Path) -> list[dict[str, Any]]:
    """The service's JSON log lines, parsed (other output is skipped)."""
    events = []
    for line in _log(tmp).splitlines():
        with contextlib.suppress(ValueError):
            if isinstance(event := json.loads(line), dict):
                events.append(event)
    return events


# --- HTTP --------------------------------------------------------------------------------


def _readyz(base: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{base}/readyz", timeout=5)
    except httpx.HTTPError:
        return None
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 else None


def _ready_with(base: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    body = _readyz(base)
    return body if body is not None and check(body) else None


def _dhea_s_card(base: str) -> dict[str, Any]:
    """The dhea-s-high card for the sample patient (a fresh request each time)."""
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    response = httpx.post(f"{base}{PV}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    cards = [
        c
        for c in response.json()["cards"]
        if c["extension"]["neurosteroid-cds"]["ruleId"] == "dhea-s-high"
    ]
    assert len(cards) == 1, response.text
    card: dict[str, Any] = cards[0]
    return card


def _version(card: dict[str, Any]) -> str:
    version: str = card["extension"]["neurosteroid-cds"]["ruleVersion"]
    return version


# --- real servers ------------------------------------------------------------------------


def test_a_rule_edit_is_picked_up_by_the_watcher(tmp_path: Path) -> None:
    with _server(tmp_path, "--watch-rules") as (_, base, rules):
        before = _readyz(base)
        assert before is not None
        assert f"dhea-s-high@{OLD}" in before["pack"]["rules"]
        assert before["reload"]["watching"] is True
        assert before["reload"]["last_error"] is None
        assert OLD_WORDING in _dhea_s_card(base)["summary"]

        # requests keep flowing during the reload, each served by one pack: old or new, not mixed
        seen: list[tuple[str, bool]] = []
        failures: list[BaseException] = []
        done = threading.Event()

        def traffic() -> None:
            while not done.is_set():
                try:
                    card = _dhea_s_card(base)
                except BaseException as exc:  # reported by the test thread
                    failures.append(exc)
                    return
                seen.append((_version(card), NEW_WORDING in card["summary"]))

        client = threading.Thread(target=traffic, daemon=True)
        client.start()
        try:
            _wait_for("traffic on the old pack", lambda: seen or failures)
            _edit(rules, BUMP, REWORD)
            after = _wait_for(
                f"dhea-s-high@{NEW} in /readyz",
                lambda: _ready_with(base, lambda b: f"dhea-s-high@{NEW}" in b["pack"]["rules"]),
            )
            _wait_for("traffic on the new pack", lambda: failures or seen[-1][0] == NEW)
        finally:
            done.set()
            client.join(timeout=15)
        assert not failures, failures
        assert set(seen) <= {(OLD, False), (NEW, True)}, set(seen)
        assert seen[0] == (OLD, False)
        assert seen[-1] == (NEW, True)
        assert after["pack"]["hash"] != before["pack"]["hash"]
        assert after["reload"]["loaded_at"] > before["reload"]["loaded_at"]
        assert after["reload"]["last_error"] is None
        card = _dhea_s_card(base)
        assert _version(card) == NEW
        assert NEW_WORDING in card["summary"]
        assert '"rules_reloaded"' in _log(tmp_path)


def test_a_broken_pack_is_refused_and_a_fix_is_taken(tmp_path: Path) -> None:
    with _server(tmp_path, "--watch-rules") as (process, base, rules):
        good = _readyz(base)
        assert good is not None
        good_hash = good["pack"]["hash"]

        # invalid YAML
        _edit(rules, ("hooks: [patient-view, order-select, order-sign]", "hooks: [patient-view"))
        broken = _wait_for(
            "a refused reload (E100)",
            lambda: _ready_with(base, lambda b: _codes(b) == {"E100"}),
        )
        _assert_refused(broken, good_hash)
        assert _version(_dhea_s_card(base)) == OLD

        # valid YAML, unknown value set: the problem names the file and the line
        text = _edit(rules, ("in: dhea-s\n", "in: dhea-s-typo\n"))
        line = text.splitlines().index("    in: dhea-s-typo") + 1
        refused = _wait_for(
            "a refused reload (E104)",
            lambda: _ready_with(base, lambda b: _codes(b) == {"E104"}),
        )
        _assert_refused(refused, good_hash)
        [problem] = refused["reload"]["last_error"]["problems"]
        assert re.match(rf"rules/{re.escape(str(RULE))}:{line}:\d+: error E104 ", problem), problem
        assert "dhea-s-typo" in problem
        assert refused["reload"]["last_error"]["pack_hash"] != good_hash
        for _ in range(3):  # requests are still answered, with the last good pack's cards
            card = _dhea_s_card(base)
            assert _version(card) == OLD
            assert OLD_WORDING in card["summary"]
        assert '"rules_reload_refused"' in _log(tmp_path)
        assert "dhea-s-typo" in _log(tmp_path)

        # the fix (with a new version) is swapped in and clears the error
        _edit(rules, BUMP, REWORD)
        fixed = _wait_for(
            "the fixed pack",
            lambda: _ready_with(
                base,
                lambda b: (
                    f"dhea-s-high@{NEW}" in b["pack"]["rules"] and b["reload"]["last_error"] is None
                ),
            ),
        )
        assert fixed["pack"]["hash"] != good_hash
        assert NEW_WORDING in _dhea_s_card(base)["summary"]

        # SIGHUP in a single-process server: a reload (of unchanged files), not a death
        process.send_signal(signal.SIGHUP)
        _wait_for(
            "the SIGHUP reload",
            lambda: any(e.get("trigger") == "SIGHUP" for e in _events(tmp_path)),
        )
        assert process.poll() is None
        still = _readyz(base)
        assert still is not None
        assert still["pack"]["hash"] == fixed["pack"]["hash"]
        assert still["reload"]["loaded_at"] == fixed["reload"]["loaded_at"]


def _codes(body: dict[str, Any]) -> set[str] | None:
    failed = body["reload"]["last_error"]
    if failed is None:
        return None
    return {m.group(1) for p in failed["problems"] if (m := re.search(r": error (E\d+)", p))}


def _assert_refused(body: dict[str, Any], good_hash: str) -> None:
    assert body["status"] == "ready"
    assert body["pack"]["hash"] == good_hash
    assert f"dhea-s-high@{OLD}" in body["pack"]["rules"]
    failed = body["reload"]["last_error"]
    assert failed["trigger"] == "watch"
    assert failed["problem_count"] == len(failed["problems"]) >= 1
    assert all(p.startswith(f"rules/{RULE}:") for p in failed["problems"]), failed


def test_sighup_reloads_every_worker(tmp_path: Path) -> None:
    with _server(tmp_path, "--workers", "2") as (supervisor, base, rules):
        _wait_for("two workers", lambda: len(_children(supervisor.pid)) == 2)
        _wait_for("both workers started", lambda: _log(tmp_path).count('"started"') == 2, 60)
        ready = _readyz(base)
        assert ready is not None
        assert ready["reload"]["watching"] is False

        _edit(rules, BUMP, REWORD)
        time.sleep(1.0)  # nobody watches the files: nothing happens until SIGHUP
        assert all(_version(_dhea_s_card(base)) == OLD for _ in range(4))

        supervisor.send_signal(signal.SIGHUP)
        _wait_for(
            "a reload in both workers",
            lambda: _log(tmp_path).count('"rules_reloaded"') == 2,
        )
        for _ in range(12):  # fresh connections, spread over both workers by the kernel
            card = _dhea_s_card(base)
            assert _version(card) == NEW
            assert NEW_WORDING in card["summary"]
            body = _readyz(base)
            assert body is not None
            assert f"dhea-s-high@{NEW}" in body["pack"]["rules"]
        assert len(_children(supervisor.pid)) == 2  # nobody died


# --- the reloader in-process -------------------------------------------------------------


@dataclass
class _Holder:
    live: LivePack


def _live(pack: RulePack) -> LivePack:
    return LivePack(pack, RuleEngine(pack))


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_triggers_during_a_slow_reload_make_exactly_one_more() -> None:
    holder = _Holder(_live(load_pack(MINI_PACK)))
    calls: list[str] = []
    release = threading.Event()

    def slow_build(current: RulePack) -> LivePack | None:
        calls.append(current.pack_hash)
        if len(calls) == 1:
            assert release.wait(10)
        return None

    async def scenario() -> Reloader:
        reloader = Reloader(holder, MINI_PACK, build=slow_build)
        await reloader.start(watch=False)
        try:
            reloader.trigger("first")
            await _until(lambda: len(calls) == 1)
            reloader.trigger("second")
            reloader.trigger_threadsafe("third")
            reloader.trigger("fourth")
            release.set()
            await _until(lambda: reloader.attempts == 2)
            await asyncio.sleep(0.3)  # no third run comes
        finally:
            release.set()
            await reloader.stop()
        return reloader

    reloader = asyncio.run(scenario())
    assert len(calls) == 2
    assert reloader.attempts == 2


def test_a_trigger_before_the_start_waits_for_it() -> None:
    holder = _Holder(_live(load_pack(MINI_PACK)))
    calls: list[str] = []

    def build(current: RulePack) -> LivePack | None:
        calls.append(current.pack_hash)
        return None

    async def scenario() -> None:
        reloader = Reloader(holder, MINI_PACK, build=build)
        reloader.trigger_threadsafe("SIGHUP")  # a worker's SIGHUP while the app was being built
        await reloader.start(watch=False)
        try:
            await _until(lambda: reloader.attempts == 1)
        finally:
            await reloader.stop()

    asyncio.run(scenario())
    assert len(calls) == 1


def test_refusal_keeps_the_live_pack_until_a_fix(tmp_path: Path) -> None:
    pack_dir = tmp_path / "pack"
    shutil.copytree(MINI_PACK, pack_dir)
    rule = pack_dir / "supplements" / "dhea-s-high.yaml"
    original = rule.read_text(encoding="utf-8")
    first = _live(load_pack(pack_dir))
    holder = _Holder(first)
    reloader = Reloader(holder, pack_dir)

    async def reload() -> None:
        await reloader.reload("test")

    asyncio.run(reload())  # unchanged files: nothing is compiled, nothing is swapped
    assert holder.live is first
    assert reloader.status()["last_error"] is None

    rule.write_text(original.replace("version: 1.0.0", "version: [1.0.0"), encoding="utf-8")
    asyncio.run(reload())
    assert holder.live is first
    failed = reloader.status()["last_error"]
    assert failed["trigger"] == "test"
    assert failed["pack_hash"] not in (None, first.pack.pack_hash)
    assert failed["problems"][0].startswith("pack/supplements/dhea-s-high.yaml:")
    assert " error E100 " in failed["problems"][0]

    rule.write_text(original.replace("version: 1.0.0", "version: 1.1.0"), encoding="utf-8")
    asyncio.run(reload())
    assert holder.live is not first
    assert "dhea-s-high@1.1.0" in holder.live.pack.manifest["rules"]
    assert reloader.status()["last_error"] is None
    assert reloader.attempts == 3
