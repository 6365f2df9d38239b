import sys

from hat_keras.cli import main

sys.exit(main())
