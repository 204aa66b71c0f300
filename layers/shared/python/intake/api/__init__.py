"""HTTP routers (Powertools) and the mapping of domain errors to the HTTP contract."""
