import sys

from training.studies.cli import main

sys.exit(main())
