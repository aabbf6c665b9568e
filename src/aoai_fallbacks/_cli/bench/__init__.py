"""The side-by-side benchmark engine behind `aoai-fallbacks bench` and `aoai-fallbacks demo`.

Private: its names may change between releases. It lives inside the package
(not only in ``benchmarks/``) so that the commands work from an installed
wheel. Modules: `workload` (seeded open-loop arrivals, closed-loop prompts),
`scenarios` (the emulated resources and open loads), `approaches` (the seed
recipe, the balancer and the alternatives behind one interface), `engine`
(drive one approach through one scenario), `closed` (N workers in a closed
loop), `processes` (the closed loop split over OS processes, with and
without Redis), `proxy` (what `aoai-fallbacks serve` adds to a request, and the
closed loop through it), `dialects` (the throttling dialects the closed loop runs on),
`metrics`, `overhead` (CPU cost per request), `report`, and `redis_server` (a
real redis-server of the bench's own, which the tests use too).
"""
