import sys

from gameday.cli import main

sys.exit(main())
