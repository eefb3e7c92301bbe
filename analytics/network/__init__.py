"""Graph analytics (influencers, communities, conversation shapes) on igraph.

igraph is first imported here without its plotting backends (`igraph_quiet`), before any module
of this package imports it by name.
"""

from analytics.network import igraph_quiet as _igraph_quiet  # noqa: F401  (imports igraph quietly, first)
