"""Overlap: relationship-overlap (backdoor selling) detection over email and meeting metadata."""

__version__ = "0.1.0"
