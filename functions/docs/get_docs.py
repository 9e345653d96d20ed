"""GET /docs, GET /docs/{asset}, GET /openapi.json — the API's document and Swagger UI to read and try it.

The document is `openapi.json`, generated from the handlers' own models (`make openapi`) and built into this
function. Swagger UI's script and style are the ones Powertools ships in its package: no CDN, so the page works
where the browser cannot reach the internet.
"""

from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi import swagger_ui

from crowdify.core.errors import NotFound
from crowdify.http.api import api_app, lambda_handler_for
from crowdify.http.route_access import PUBLIC

DOCUMENT = Path(__file__).with_name("openapi.json")
SWAGGER_UI = Path(swagger_ui.__file__).parent
ASSET_TYPES = {
    "swagger-ui-bundle.min.js": "text/javascript; charset=utf-8",
    "swagger-ui.min.css": "text/css; charset=utf-8",
}
# The assets change only with the Powertools version, which a deploy changes; the document with every deploy.
ASSET_CACHE = "public, max-age=86400"
DOCUMENT_CACHE = "public, max-age=60"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Crowdify API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.min.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.min.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                                 persistAuthorization: true, tryItOutEnabled: false});
  </script>
</body>
</html>
"""

app = api_app(PUBLIC)


@app.get("/docs", include_in_schema=False)
def swagger_page() -> Response[str]:
    return Response(200, "text/html; charset=utf-8", PAGE, headers={"Cache-Control": DOCUMENT_CACHE})


@app.get("/docs/<asset>", include_in_schema=False, compress=True)
def swagger_asset(asset: str) -> Response[str]:
    content_type = ASSET_TYPES.get(asset)
    if content_type is None:
        raise NotFound(f"No hay un archivo {asset!r} en /docs.")
    return Response(200, content_type, _asset(asset), headers={"Cache-Control": ASSET_CACHE})


@app.get("/openapi.json", include_in_schema=False, compress=True)
def openapi_document() -> Response[str]:
    return Response(200, "application/json", _document(), headers={"Cache-Control": DOCUMENT_CACHE})


@cache
def _asset(name: str) -> str:
    return (SWAGGER_UI / name).read_text(encoding="utf-8")


@cache
def _document() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


lambda_handler = lambda_handler_for(app)
