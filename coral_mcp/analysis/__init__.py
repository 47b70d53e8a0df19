"""Pure analysis: baselines, anomaly detection, change points, topology, ranking.

No I/O and no clock reads here: data and time come in as arguments.
"""
