"""Audit reports: one HTML page a regulator can read for a pipeline job or a model (issue 18)."""

from veilproof.audit.report import AuditReport, audit_job, audit_model, render_html

__all__ = ["AuditReport", "audit_job", "audit_model", "render_html"]
