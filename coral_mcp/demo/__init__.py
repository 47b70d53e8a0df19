"""`coral demo`: a real shop application (web -> api -> PostgreSQL + Redis), watched by
one agent per service, with faults injected on demand and the colony's diagnosis judged
against the recorded ground truth. The same machinery is the live end-to-end suite.

Modules: `scenarios` (faults and their ground truth, the judge), `stores` (private
PostgreSQL and Redis instances), `shop` (the web and api services), `load` (the load
generator), `processes` (children that never outlive the demo), `stack` (the whole
application plus colony and agents, and fault injection).
"""
