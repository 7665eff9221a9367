"""The original design, re-created for comparison: render every request with pure-Python qrcode,
no cache, and answer with a data URL. Same render options as qrpass, so only the design differs.

Run as `python -m bench.baseline PORT TOKENS_JSON`; tokens are held in memory (kinder to the
baseline than the original's database read per request).
"""

from __future__ import annotations

import base64
import io
import json
import sys

import qrcode
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def render_data_url(token: str) -> str:
    code = qrcode.QRCode(error_correction=qrcode.ERROR_CORRECT_M, box_size=6, border=4)
    code.add_data(token)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def create_app(tokens: dict[str, str]) -> Starlette:
    async def pass_json(request: Request) -> JSONResponse:
        token = tokens.get(request.path_params["id"])
        if token is None:
            return JSONResponse({"success": False}, 404)
        # The original rendered on the event loop, blocking it for every miss.
        return JSONResponse(
            {"success": True, "qr_token": token, "qr_image": render_data_url(token)}
        )

    return Starlette(routes=[Route("/v1/students/{id}/qr", pass_json)])


def main() -> None:
    port, tokens_path = int(sys.argv[1]), sys.argv[2]
    with open(tokens_path) as handle:
        tokens = json.load(handle)
    uvicorn.run(create_app(tokens), host="127.0.0.1", port=port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
