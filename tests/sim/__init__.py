"""A deterministic simulation of controller replicas, ZooKeeper, Redis and members (issue 17).

world.py plays the stores and the members, replica.py one controller replica (the pure
core and the daemon's leadership), machines.py the interpreter of the production machines
(failover, late fence, taking office, switchover: controller/core/) one awaitable at a time,
runners.py the publishing sequences still kept by hand; test_simulation.py drives them with
Hypothesis and checks the invariants.
"""
