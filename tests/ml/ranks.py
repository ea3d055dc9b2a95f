"""Entries for ml.distributed.launch in tests, in a module without Django imports: spawned processes import it."""

import os


def dies_on_rank_one(*, rank, world_size, reporter):
    """Rank 1 exits at once with code 3 (as a killed process would); rank 0 then waits in a collective."""
    if rank == 1:
        os._exit(3)
    reporter.should_stop()  # an all-reduce: rank 0 waits for a rank that is gone
    return {"never": True}
