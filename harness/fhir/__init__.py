"""FHIR helpers: paging, answer classification, validation (schemas, StructureDefinition rules,
US Core profiles, the app's data contract) and the shipped, hash-pinned data they use."""
