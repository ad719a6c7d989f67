"""miglink.linkage: ingestion, standardisation, probabilistic linkage, clustering,
person histories, linkage evaluation and the synthetic world generator.

Data flows one way: this package never imports :mod:`integrators`.
"""

__version__ = "0.1.0"
