"""FHIR helpers: paging, schema validation and the shipped FHIR JSON schemas."""
