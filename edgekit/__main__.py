import sys

from edgekit.commands.main import main

sys.exit(main())
