"""A toy task kind living in its own folder, as a new benchmark would (see test_toy_task.py)."""
