"""``python -m dnn_suite`` runs the CLI."""

import sys

from dnn_suite.cli import main

sys.exit(main())
