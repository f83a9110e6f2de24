"""Running searches on several cores, or on a Ray cluster.

Work that shares one state (a region search's job, a closed loop's problem) goes to a pool
(:mod:`.pools`): this process, forked worker processes on this machine, or Ray tasks (:mod:`.ray_tasks`
joins the cluster), all with the same ``submit(*args) -> Future``. A region search is cut into *chunks*
of regions; a chunk is searched for a short time slice by a worker, which returns a decision or the
regions it has left (:mod:`.chunks`). A driver hands chunks to a pool and splits returned regions among
idle workers, so no worker waits while another has work. A chunk can be searched again from the start
with the same outcome, which is what makes retries of lost tasks safe.
"""
