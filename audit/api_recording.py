"""Recording the REST API's reads: mixins for DRF views.

The record is written in ``finalize_response``, once the view has answered
200 and before the response is rendered and sent; an error writing it
propagates, so the data is not sent unrecorded (see ``services``).
"""

from collections.abc import Iterator
from typing import Any, cast

from django.http import StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import AccessAction
from .services import record_access, recorded_stream
from .streams import RowCounter


class RecordedApiReads(APIView):
    """For a read-only viewset: records list pages (their query string and
    row count) with ``audit_list_action`` and details with
    ``audit_detail_action``; ``audit_conversation_key`` names the key of a
    detail's data holding its conversation's id (None: none)."""

    audit_list_action: AccessAction | None = AccessAction.API_LIST
    audit_detail_action: AccessAction | None = AccessAction.API_DETAIL
    audit_conversation_key: str | None = "id"

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method != "GET" or response.status_code != 200:
            return response
        view_action = getattr(self, "action", None)
        if view_action == "list" and self.audit_list_action is not None:
            data = response.data
            rows = data["results"] if isinstance(data, dict) else data
            record_access(
                request=request._request,
                action=self.audit_list_action,
                row_count=len(rows),
                with_query=True,
            )
        elif view_action == "retrieve" and self.audit_detail_action is not None:
            key = self.audit_conversation_key
            record_access(
                request=request._request,
                action=self.audit_detail_action,
                conversation_ids=[response.data[key]] if key else [],
                row_count=1,
            )
        return response


class RecordedApiExport(APIView):
    """For a streaming export: recorded with its query string before the
    first byte; its row count (counted by ``audit_rows``) when it ends."""

    audit_action: AccessAction
    audit_rows: type[RowCounter]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse) and response.status_code == 200:
            record = record_access(
                request=request._request, action=self.audit_action, with_query=True
            )
            response.streaming_content = recorded_stream(
                cast(Iterator[bytes], response.streaming_content),
                record=record,
                rows=self.audit_rows(),
            )
        return response
