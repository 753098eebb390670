"""Tracking plans: loading, checking, code generation, the CLI and the collector."""
