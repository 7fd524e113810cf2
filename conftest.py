"""This repository's own runs: the `progressive` pytest plugin is loaded through its pytest11
entry point (pyproject.toml); the report writers (progressive.reports) are wired by it as well."""
