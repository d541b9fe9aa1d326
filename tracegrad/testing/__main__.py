"""``python -m tracegrad.testing --minutes N``: run the differential fuzzer."""

import sys

from tracegrad.testing.fuzz import main

sys.exit(main())
