"""The one exception type users see: a message saying what is wrong and what to do."""


class PowertrainError(Exception):
    """Bad input or an unusable environment. The CLI prints the message alone, no traceback."""


class ConfigError(PowertrainError):
    """A study file that cannot be used. The message starts with the key's path."""


class RunClaimed(ValueError):
    """Another live process holds this run (see ``store/claims.py``): skip it, it is being trained."""
