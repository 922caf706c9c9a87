import sys

from samkit.cli.main import main

sys.exit(main())
