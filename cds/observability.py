"""JSON logs (structlog) and Prometheus metrics. Logs carry hookInstance, service, rule ids and
versions and timings — never names, ids, values or tokens from the patient's data."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram


def configure_logging(level: str = "info") -> None:
    """structlog's JSON lines on stdout; the standard library's records (uvicorn, the FHIR
    fetcher, JWKS refreshes) as JSON on stderr. A root logger that already has handlers (a
    test runner's capture) is left as it is."""
    stdlib_json = logging.StreamHandler(sys.stderr)
    stdlib_json.setFormatter(stdlib_formatter())
    logging.basicConfig(handlers=[stdlib_json], level=level.upper())
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # orjson renders bytes for BytesLogger: ~3x cheaper per line than json + print
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=_StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # not cached: the level of the latest configure_logging applies (tests build apps at
        # several levels in one process); uncached costs ~1.5 µs a line
        cache_logger_on_first_use=False,
    )


def stdlib_formatter() -> logging.Formatter:
    """JSON for the standard library's records. An exception is logged by its type and
    file:line only, as ``InternalErrorMiddleware`` does: its message may quote patient data."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _exception_place,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )


def raised_at(exc: BaseException) -> str:
    """``file.py:line`` of the innermost frame an exception was raised in ("" without a
    traceback): where to look, without the message, which may quote patient data."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""


def _exception_place(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    exc_info = event.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info[1] if isinstance(exc_info, tuple) else exc_info
    if isinstance(exc, BaseException):
        event["error"] = type(exc).__name__
        if at := raised_at(exc):
            event["at"] = at
    return event


class _StdoutLogger:
    """structlog's ``BytesLogger``, except that standard output is looked up at each line, not
    once when the (cached) logger is made: whoever replaced ``sys.stdout`` since (a test's
    capture, a supervisor's redirection) still gets the lines."""

    def __init__(self, *_args: Any) -> None:
        pass

    def msg(self, message: bytes) -> None:
        stream = sys.stdout
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            binary.write(message + b"\n")
            binary.flush()
        else:
            stream.write(message.decode() + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


log = structlog.get_logger("cds")

#: For ``uvicorn.run``/``uvicorn.Config``: uvicorn's records go through the root logger (JSON,
#: above), and its access log stays off: the service writes its own line per hook call.
UVICORN_LOGGING: dict[str, Any] = {"log_config": None, "access_log": False}


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "cds_request_seconds",
            "Latency of CDS Hooks service calls",
            ["service", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.cards = Counter(
            "cds_cards_total",
            "Cards returned, per rule",
            ["rule_id", "indicator"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "cds_feedback_total",
            "Feedback items stored, per rule and outcome",
            ["rule_id", "outcome"],
            registry=self.registry,
        )
