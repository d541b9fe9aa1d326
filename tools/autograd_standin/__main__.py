"""``python -m tools.autograd_standin <autograd-checkout>``: see runner.py."""

import sys

from tools.autograd_standin.runner import main

sys.exit(main())
