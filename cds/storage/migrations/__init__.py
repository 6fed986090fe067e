"""Alembic migrations of the CDS store, shipped inside the package so that an installed wheel
can migrate.

Run them with :meth:`cds.storage.Store.migrate`; no ``alembic.ini`` is needed.
"""
