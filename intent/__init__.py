"""fabric-intent's pure core: cluster snapshot, fabric inventory, intent graph, plan and report.

Nothing in this package does I/O, reads the clock or talks to a network: the same inputs always
give the same, byte-identical output.
"""
