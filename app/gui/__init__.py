"""The lab GUI (`mespot gui`): a plain-Python session model (:class:`LabController`) and Qt views of it.

``app.gui.controller`` and ``app.gui.mocklab`` import no Qt; ``app.gui.window`` and ``app.gui.views`` do.
"""
