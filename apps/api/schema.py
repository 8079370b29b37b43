"""How the OpenAPI schema describes the API's key authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": (
                "A key made on your account page (it starts with `acr_`), sent as `X-API-Key: <key>` "
                "or `Authorization: Api-Key <key>`. A key in the URL's query string is refused."
            ),
        }


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Problem details (RFC 9457); `errors` names each invalid parameter.",
    "properties": {
        "type": {"type": "string", "description": "Always about:blank."},
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "code": {"type": "string", "description": "Which problem, for programs (e.g. invalid, not-found)."},
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "errors": {"type": "object", "description": "Each invalid parameter with its message."},
    },
    "required": ["type", "title", "status", "code", "detail"],
}
PROBLEMS = {
    "400": "Invalid parameters (each named in `errors`).",
    "401": "No key, or not a valid one.",
    "403": "The key may not do this (its scope or the account's plan).",
    "404": "No such resource, or no data for it on that day.",
    "429": "Over the plan's quota; Retry-After says when to retry.",
}


def problem_responses(result, generator, request, public):
    """drf-spectacular hook: every operation documents the problem responses the API gives."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in PROBLEMS.items():
                responses.setdefault(status, {"content": content, "description": description})
    return result
