import sys

from jovay.cli import main

sys.exit(main())
