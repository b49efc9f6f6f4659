"""Issue 14 item 6: the OpenAPI description declares the bearer scheme and documents every
error status in the real ``{"error": {...}}`` shape; /docs works offline (assets from the
package, no outside address)."""

from __future__ import annotations

import re

from harness import RunningGateway

from pushgate.api.errors import ErrorBody

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")
_SPEC_LOAD = re.compile(r"""url:\s*'([^']+)'""")


async def test_openapi_declares_bearer_auth_and_the_real_error_shape(gw: RunningGateway) -> None:
    async with gw.client(None) as anon:
        spec = (await anon.get("/openapi.json")).json()
        refused = await anon.get("/v1/devices")
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": schemes["apiKey"]["description"],
        }
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [
        (path, method, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if path.startswith("/v1/")
    ]
    secured = [(path, method) for path, method, op in operations if "security" in op]
    assert ("/v1/notifications", "post") in secured and len(secured) >= 12
    for path, method, op in operations:
        assert op.get("security", [{"apiKey": []}]) == [{"apiKey": []}], (method, path)
        for status in ("413", "422", *(("401", "403") if "security" in op else ())):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "404" in spec["paths"]["/v1/notifications/{notification_id}"]["get"]["responses"]
    assert "409" in spec["paths"]["/v1/apps"]["post"]["responses"]
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}
    ErrorBody.model_validate(refused.json())  # the documented shape is the one answered


async def test_docs_load_their_assets_from_the_gateway(gw: RunningGateway) -> None:
    async with gw.client(None) as anon:
        for page in ("/docs", "/redoc"):
            html = (await anon.get(page)).text
            references = [a or b for a, b in _ASSET.findall(html)]
            assert references, html
            assert not re.search(r"https?://", html), f"{page} names an outside address"
            for reference in references:
                assert reference.startswith("/"), reference
                answer = await anon.get(reference)
                assert answer.status_code == 200, reference
                assert len(answer.content) > 100, reference
        bundle = (await anon.get("/docs-assets/swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in bundle
