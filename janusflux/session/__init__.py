"""The session manager, one module per job (see ARCHITECTURE.md):

======================  =====================================================================================
``core``                :class:`Session`: configuration, ``generate``/``agenerate``/``stream``/``astream``, close
``request``             validate once: a call checked and normalised into one ``Request``
``loop``                the call loop: attempts over the Spaces, every decision from ``policy.decide``
``job``                 one attempt: submit the job, follow it, map errors, parse the output
``events``              a pure function from a gradio_client job update to janusflux events
``errormap``            a pure mapping from gradio_client exceptions to janusflux errors
``routing``             mirror choice (least busy first), cooldowns
``pool``                one gradio_client Client per Space, retirement, shutdown
``guard``               a Client pinned to its Space's origin; its event streams capped and stopped on close
``hub``                 Space resolution through the Hub, waking sleeping Spaces
``quota``               when a spent ZeroGPU allowance resets (the Hub's quota API, once per such error)
``credentials``         the HF token, its redaction, and which origins may receive it
``http``                plain HTTP (Hub, result files) with the token only where allowed
``zerogpu_headers``     the ZeroGPU headers of a call and the JWT fetch (cache: ``janusflux.zerogpu``)
``reach``               first contact: a host never reached that refuses is HostUnreachableError at once
``quiet``               no request to a host the user did not configure (agent registry, client telemetry)
======================  =====================================================================================
"""

from __future__ import annotations

from .core import CANCEL_GRACE, Session
from .credentials import redact

__all__ = ["CANCEL_GRACE", "Session", "redact"]
