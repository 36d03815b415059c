"""Conformance harness for Epic FHIR integrations."""

__version__ = "0.1.0"
