"""A sample FastAPI app with its own test suite, which uses only the pytest plugin's fixture."""
