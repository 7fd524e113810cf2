"""Load generation with Locust and the per-request recording of what answered.

`progressive.load.traffic.traffic(...)` runs Locust headless in a subprocess (never import locust in the
harness: it monkey-patches the process with gevent); `progressive.load.locustfile` is what that subprocess
runs; `progressive.load.recording` reads and summarises the per-request records; `progressive.load.timeline` polls
the router's weights and joins them with the records, step by step.
"""
