"""The locustfile every run uses, for running Locust by hand from a checkout:

    locust -f load/locustfile.py --host http://127.0.0.1:PORT

The code is progressive/load/locustfile.py (it ships in the wheel; `progressive.load.traffic`
runs it); this file only makes it reachable where the project's layout puts load.
"""

from progressive.load.locustfile import *  # noqa: F403 - Locust collects the User classes
