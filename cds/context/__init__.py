"""The patient context: prefetch/FHIR data in, normalised facts out."""

from cds.context.normalise import FactSet, PatientData, Skipped, build_facts

__all__ = ["FactSet", "PatientData", "Skipped", "build_facts"]
