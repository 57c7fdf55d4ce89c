import sys

from core.localnet.network import main

sys.exit(main())
