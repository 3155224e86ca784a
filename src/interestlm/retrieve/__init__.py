"""⑤ Candidate retrieval: exact and FAISS vector search, concept index, co-occurrence, popularity."""

from interestlm.retrieve.candidates import active_interests, interleave, retrieve_candidates, retrieve_many
from interestlm.retrieve.collaborative import Cooccurrence, Popularity
from interestlm.retrieve.concepts import ConceptIndex
from interestlm.retrieve.vector import ExactIndex, FaissIndex, VectorIndex

__all__ = [
    "ConceptIndex",
    "Cooccurrence",
    "ExactIndex",
    "FaissIndex",
    "Popularity",
    "VectorIndex",
    "active_interests",
    "interleave",
    "retrieve_candidates",
    "retrieve_many",
]
