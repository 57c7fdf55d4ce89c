import sys

from core.supervisor.launch import main

sys.exit(main())
