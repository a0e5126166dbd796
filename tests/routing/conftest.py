"""routing_helpers.py (builders shared by the routing tests) lives beside this file."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
