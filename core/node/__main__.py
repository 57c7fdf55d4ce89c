import sys

from core.node.runner import main

sys.exit(main())
