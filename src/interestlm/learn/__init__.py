"""Trainable models: the SASRec-style transformer shared by the sequential recommenders.

torch is imported only by the submodules (``interestlm.learn.transformer``,
``interestlm.learn.seqrec``), so importing this package stays cheap.
"""
