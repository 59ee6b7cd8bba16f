"""Every test directory (``tests/`` and ``services/<name>/tests/``) gets the test kit's fixtures."""

pytest_plugins = ["tests.kit"]
