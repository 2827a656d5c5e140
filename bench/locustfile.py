# The Locust side of bench/compare.sh: one GET of the target's root. With
# LOCUST_RATE_PER_USER set, each user makes that many requests per second
# (constant_throughput), so users × rate is the fixed arrival rate; without
# it, users send back to back (saturation).
import os

from locust import HttpUser, constant, constant_throughput, task

_rate = float(os.environ.get("LOCUST_RATE_PER_USER", "0"))


class Bench(HttpUser):
    wait_time = constant_throughput(_rate) if _rate > 0 else constant(0)

    @task
    def root(self):
        self.client.get("/")
