"""Moved to tests/support/verifier.py. Kept only for tests/security/security_support.py, which imports it
from here; delete once that file imports ``tests.support.verifier``."""

from tests.support.verifier import FakeAws, LambdaContext

__all__ = ["FakeAws", "LambdaContext"]
