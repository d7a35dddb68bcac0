"""MoLE's built-in plugins (installed as ``mole_plugins``).

They use only the hooks in :mod:`mole_core.hookspecs`, exactly as a third-party plugin would.
"""
