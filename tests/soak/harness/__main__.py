import sys

from tests.soak.harness.run import main

sys.exit(main())
