"""The text relation model: which relation of the graph links two mentions of a sentence, or none.

It never imports `models.graph`: evidence from the graph arrives as `evidence.Evidence` values.
"""
