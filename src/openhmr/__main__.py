import sys

from openhmr.cli import main

sys.exit(main())
