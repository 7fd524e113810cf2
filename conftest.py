"""This repository's own runs: the `progressive` pytest plugin is loaded through its pytest11
entry point (pyproject.toml); the report plugins in reports/ are wired by it as well."""
