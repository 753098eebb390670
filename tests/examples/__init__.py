"""Every script in ``examples/``, run against the test collector."""
