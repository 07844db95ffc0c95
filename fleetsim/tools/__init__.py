"""Offline tooling, never imported by a run: the torch definitions of the reference
architectures and the regeneration of the workload profiles stored in ``hardware_models/``.

    python -m fleetsim.tools.profiles [ID ...]     # rewrite the named (or all) profiles
"""
