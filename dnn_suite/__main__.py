"""``python -m dnn_suite`` runs the CLI as the ``dnn-suite`` console script does."""

import sys

from dnn_suite.entry import main

sys.exit(main())
