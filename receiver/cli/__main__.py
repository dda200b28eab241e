import sys

from receiver.cli.main import main

sys.exit(main())
