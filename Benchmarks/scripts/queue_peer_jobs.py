"""The no-op job of the RQ peer (a module of its own so workers import it by name)."""


def noop():
    return None
