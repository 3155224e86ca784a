"""The core: what every stage shares and that imports nothing else of ours.

Schema types (:mod:`.schema`, :mod:`.tables`), the array aliases (:mod:`.types`), the model and
split contracts (:mod:`.protocol`), the library's typed errors (:mod:`.errors`), name
normalisation (:mod:`.names`), top-k selection (:mod:`.topk`) and the ranking metrics
(:mod:`.metrics`, pure functions: models stop early on them and evaluation reports them).
"""
