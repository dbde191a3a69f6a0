"""A web dashboard of a network: live beside ``qinternet serve --dashboard``, or over the outputs of ``qinternet
run`` and ``qinternet sweep`` (``qinternet dashboard DIR``).

The page draws the network on a map (equirectangular, nodes at their coordinates), its links coloured by key
rate with an outline coloured by QBER, the pools' levels, the deliveries per SAE (or per demand), the relay
paths in use and the alarms; it asks the server for the state as JSON every second and redraws. Over a
run's outputs it replays the time series step by step; over a sweep's it shows the study, its results
table and its figures.

Why this stack: the server is FastAPI on uvicorn, which qinternet already depends on and runs for its KMEs
(:mod:`qinternet.kms`), so the dashboard adds no dependency and serves on the same event loop as ``serve``'s
KMEs. The page is plain JavaScript drawing SVG, with every file shipped in this package
(``static/``): nothing loads from a CDN, so it works on machines that reach no web server but this one,
and there is no JavaScript build step. Bokeh/Panel or Dash were the alternatives: both would add a
framework of several megabytes (with its own JavaScript bundle and server) for a map of circles and lines,
a few tables and a list, which SVG does in a few hundred lines.

Modules: :mod:`.alarms` (how the page lists the network's alarms), :mod:`.live` (the state of a running network),
:mod:`.outputs` (the state of run and sweep output folders), :mod:`.app` (the FastAPI app).
"""
