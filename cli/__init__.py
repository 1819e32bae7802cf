"""The `secmon` command: one entry point, subcommands import their side lazily."""
