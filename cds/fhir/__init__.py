"""FHIR access: prefetch template rendering (:mod:`cds.fhir.templates`) and fetching
(:mod:`cds.fhir.fetch`) of the data a client did not prefetch."""
