"""Microsoft Graph's subscription validation: a POST with ``?validationToken=``, echoed as text/plain.

Graph sends it when a subscription is created or renewed, before any
notification, and signs nothing: it is answered before verification, only as
an inert echo (printable ASCII, spaces allowed, at most ``MAX_ECHO_BYTES``)
with ``nosniff``, within Graph's 10 seconds. The notifications that follow
carry the source's secret as ``clientState`` in each item, which the
``shared-token`` scheme checks and removes before queueing.
"""

from __future__ import annotations

from webhook_verify.schemes.request import Request

from . import Answer, Context, Handshake


class GraphValidationToken(Handshake):
    name = "graph-validation-token"

    def before_verification(self, request: Request, context: Context) -> Answer | None:
        if request.method != "POST" or not any(key == "validationToken" for key, _ in request.query):
            return None
        # Given twice, or not echoable: refused, never queued (a notification has no such parameter).
        return Answer.echo(request.query_value("validationToken"), spaces=True) or Answer.refuse(400)
