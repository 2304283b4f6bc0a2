"""A hooks module named by BAAS_HOOKS in tests/hooks/test_loader.py."""

from baas.hooks import before


@before("create", "*")
def anything(event):
    pass
