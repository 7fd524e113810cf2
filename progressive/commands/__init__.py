"""The CLI's commands, one module each with a `register(app)` (progressive/cli.py loads them)."""
