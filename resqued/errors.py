"""Exceptions that reach the user as one-line messages."""


class ResquedError(Exception):
    """An error with a message fit to print on one line, without a traceback."""


class ConfigError(ResquedError):
    """A configuration file, flag or value that cannot be used."""
