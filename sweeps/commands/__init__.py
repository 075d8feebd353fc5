"""Subcommands of the ``hwsim`` CLI, one module each."""
