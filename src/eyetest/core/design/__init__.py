"""Trial schedulers, quality-control trial insertion and the rater simulator."""
