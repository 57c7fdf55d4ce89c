import sys

from core.supervisor.supervisor import main

sys.exit(main())
