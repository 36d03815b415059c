"""The history's tables (SQLAlchemy Core), as the newest migration leaves them. ``SCHEMA.md`` explains
every column; ``migrations.py`` builds them step by step; a test holds the two equal.

Times are text, ISO 8601 in UTC with a ``Z`` (``2026-05-14T06:00:00Z``): they sort as they read, the
same in SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
                        Boolean,
                        Column,
                        Float,
                        ForeignKey,
                        ForeignKeyConstraint,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied", String(25), nullable=False),
    Column("description", String(200), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),  # tenant | fleet
    Column("digest", String(64), nullable=False, unique=True),
    Column("source_format", String(40)),
    Column("started", String(25)),
    Column("finished", String(25), nullable=False),
    Column("recorded", String(25), nullable=False),
    Column("harness_version", String(40)),
    Column("api_set", String(100)),
    # tenant runs
    Column("tenant", String(200)),
    Column("environment", String(20)),
    Column("base_url", String(500)),
    Column("software_version", String(64)),
    Column("release", String(32)),
    Column("release_year", Integer),
    Column("release_month", Integer),
    Column("gate", String(12)),
    Column("passed", Integer),
    Column("failed", Integer),
    Column("warning", Integer),
    Column("skipped", Integer),
    Column("broken", Integer),
    # fleet runs
    Column("source", String(200)),
    Column("tenants", Integer),
    Column("answered", Integer),
    Column("ready", Integer),
    Column("full_coverage", Integer),
    Column("wall_s", Float),
    # schema 2
    Column("blocked", Integer),
    Column("inconclusive", Integer),
)
Index("ix_runs_kind_finished", runs.c.kind, runs.c.finished)
Index("ix_runs_tenant_finished", runs.c.tenant, runs.c.finished)

apis = Table(
    "apis", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("version", String(8)),
    Column("fhir", Boolean),
)

run_requested = Table(
    "run_requested", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("api_id", Integer, ForeignKey("apis.id"), primary_key=True),
)

run_apis = Table(
    "run_apis", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("api_id", Integer, ForeignKey("apis.id"), primary_key=True),
    Column("api_group", String(100)),
    Column("declared", Boolean),
    Column("granted", Boolean),
    Column("exercised", String(12)),
    Column("shape", String(80)),
    Column("verified", Boolean),  # schema 2
)

run_checks = Table(
    "run_checks", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("check_id", String(300), primary_key=True),
    Column("outcome", String(16), nullable=False),
    Column("category", String(40)),
    Column("api_id", Integer, ForeignKey("apis.id")),
    Column("blocked_by", Text),  # schema 2: JSON list of check ids
    Column("requirements", Text),  # schema 2: JSON list of requirement ids
)

fleet_tenants = Table(
    "fleet_tenants", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("key", String(500), nullable=False),
    Column("name", String(300)),
    Column("url", String(500)),
    Column("status", String(20), nullable=False),
    Column("failure", String(24)),
    Column("metadata_outcome", String(24)),
    Column("metadata_http", Integer),
    Column("metadata_s", Float),
    Column("smart_outcome", String(24)),
    Column("smart_http", Integer),
    Column("smart_s", Float),
    Column("software_version", String(64)),
    Column("release", String(32)),
    Column("release_year", Integer),
    Column("release_month", Integer),
    Column("fhir_version", String(16)),
    Column("fhir_release", String(8)),
    Column("judged", Integer),
    Column("declared", Integer),
    Column("full_coverage", Boolean),
    Column("ready", Boolean),
    Column("private_key_jwt", Boolean),
    Column("client_credentials", Boolean),
    Column("client_confidential_asymmetric", Boolean),
    Column("fingerprint", String(80)),
    Column("resource_count", Integer),
    Column("supported_profiles", Integer),
    Column("elapsed_s", Float),
    # schema 2
    Column("tls_version", String(16)),
    # schema 3: the fleet's TLS facts under its own names (tls.host, tls.tls1_0, tls.certificate.issuer, ...)
    Column("tls_host", String(300)),
    Column("tls1_0", String(20)),
    Column("tls1_1", String(20)),
    Column("certificate_issuer", String(200)),
    Column("certificate_subject", String(200)),
    Column("certificate_not_after", String(25)),
    Column("certificate_days_left", Integer),
    Column("certificate_expires_soon", Boolean),
)
Index("ix_fleet_tenants_key", fleet_tenants.c.key)

fleet_tenant_apis = Table(
    "fleet_tenant_apis", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("api_id", Integer, ForeignKey("apis.id"), primary_key=True),
    Column("state", String(8), nullable=False),  # missing | unknown
    ForeignKeyConstraint(["run_id", "seq"], ["fleet_tenants.run_id", "fleet_tenants.seq"], ondelete="CASCADE"),
)

fleet_not_run = Table(
    "fleet_not_run", metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(500), primary_key=True),  # a directory address the run left out (``scope.not_run``)
)

#: Every table of the history, in the order rows are written (parents first).
TABLES = (runs, apis, run_requested, run_apis, run_checks, fleet_tenants, fleet_tenant_apis, fleet_not_run)
