"""webhook-kit's operator tooling: the local pipeline, ``send`` and ``redrive`` (``python -m webhook_kit``)."""

from __future__ import annotations

import sys
from pathlib import Path

# lambdas/ is the Lambda asset root: its folders (shared, verifier, processor) are
# top-level packages at run time. The tools run that same code, so they need it
# importable the same way (the tests get it from pyproject's pythonpath).
LAMBDAS_DIR = Path(__file__).resolve().parent.parent / "lambdas"
if LAMBDAS_DIR.is_dir() and str(LAMBDAS_DIR) not in sys.path:
    sys.path.insert(0, str(LAMBDAS_DIR))
