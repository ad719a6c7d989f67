"""miglink.integrators: micro-integration, the residence classifier, macro-integration,
multiple systems estimation, the report and the command line.

Integrators may import :mod:`linkage`; linkage never imports integrators.
"""
