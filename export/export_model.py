"""Export a HAT classifier: `python export/export_model.py MODEL -o OUT --format tflite --quantize dynamic`.

The same command as `hat-keras export`; see hat_keras/exporting for the formats and their checks.
"""
import sys

from hat_keras.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv and argv[0] != "export":
        argv = ["export"] + argv
    sys.exit(main(argv))
