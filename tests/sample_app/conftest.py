"""The sample app's suite runs in a pytest session of its own, under pytest-asyncio, as a
user's project would (``tests/test_sample_app.py``); this session leaves it alone."""

collect_ignore = ["test_app.py"]
