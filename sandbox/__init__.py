"""Sandbox: API emulators and the synthetic organisation generator."""
