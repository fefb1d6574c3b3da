"""Helpers the tests share: fakes, event builders, moto and queue helpers (``from tests.support.<module> import``)."""
