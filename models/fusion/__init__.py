"""Graph evidence for relation classification, fused into the prototypical score.

The only package that imports both the relation model (`models.relation`) and the graph model (`models.graph`):

    evidence.py     what the graph knows of a linked pair, as `Evidence` (hypernyms, argument fit, plausibility)
    linking.py      mentions and entities to their graph context (hypernyms, embedding vectors)
    classifier.py   `GraphAwareClassifier`: the prototypical classifier with that evidence, as the service serves it
    evaluation.py   graph evidence for an evaluation file (`kgrel eval --kg`)
"""
