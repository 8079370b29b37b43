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
