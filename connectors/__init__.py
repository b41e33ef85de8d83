"""Overlap's source connectors: each yields normalized records for one mailbox and window."""
