import sys

from mrtfeed.cli import main

sys.exit(main())
