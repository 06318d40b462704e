"""Thumbnails: a crunch user project. Serve it with ``CRUNCH_TASK_MODULES=thumbnails.tasks``."""
