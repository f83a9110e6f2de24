"""Running searches on several cores, or on a Ray cluster.

Work that shares one state (a search's job, a closed loop's problem) goes to a pool (:mod:`.pools`):
this process, forked worker processes on this machine, or Ray tasks (:mod:`.ray_tasks` joins the
cluster), all with the same ``submit(*args) -> Future``. A branch-and-bound search is cut into
*chunks* of its stack, searched for short time slices by the workers
(:mod:`nnreach.verify.search.workers`).
"""
