"""Overlap reports: weekly HTML report, per-owner digests, CSV export."""
