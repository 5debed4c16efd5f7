"""``hbiview serve``: a classroom web viewer over one case (trame, served locally).

The package is split so that the part a test can check without a browser stays free of the web framework:

- :mod:`hbiview.serve.model`: the session model (which plan, its field settings, the dose and the key
  numbers), over :func:`hbiview.pipeline.run_plan` on one :class:`hbiview.pipeline.Case`;
- :mod:`hbiview.serve.pictures`: slice pictures (CT, dose colourwash, isodose lines, outlines) and the DVH
  chart as plain PNG / SVG, for the page;
- :mod:`hbiview.serve.security`: the access token of a classroom server (HTTP 403 without it);
- :mod:`hbiview.serve.app`: the trame application (imports trame and pyvista lazily).
"""

from __future__ import annotations

__all__: list[str] = []
