"""A deterministic simulation of controller replicas, ZooKeeper, Redis and members (issue 17).

world.py plays the stores and the members, replica.py one controller replica (the pure
core and the daemon's leadership), runners.py the daemon's runners one awaitable at a
time; test_simulation.py drives them with Hypothesis and checks the invariants.
"""
