"""Neurosteroid CDS: a CDS Hooks service that watches for neurosteroid risks.

The public surface is small; most modules are private implementation details:

- :mod:`cds.errors` — the one exception hierarchy every layer raises from.
- :mod:`cds.rules` — rule-pack loading, validation and compilation.
- :mod:`cds.engine` — the durable-rules adapter (``RuleEngine.evaluate``).
"""

__version__ = "0.1.0"
