"""Fleets: inventory from Resource Graph, a plan before acting, a paced concurrent run with
a journal that survives being killed, and a report."""
