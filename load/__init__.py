"""Load generation with Locust and the per-request recording of what answered.

`load.traffic.traffic(...)` runs Locust headless in a subprocess (never import locust in the
harness: it monkey-patches the process with gevent); `load.locustfile` is what that subprocess
runs; `load.recording` reads and summarises the per-request records; `load.timeline` polls
the router's weights and joins them with the records, step by step.
"""
