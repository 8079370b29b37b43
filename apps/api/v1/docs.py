"""The API's interactive documentation page (Swagger UI over /api/v1/schema/)."""

from drf_spectacular.views import SpectacularSwaggerView


class ApiDocsView(SpectacularSwaggerView):
    """Swagger UI from the sidecar's static files, its scripts carrying the page's CSP nonce."""

    template_name = "api/swagger_ui.html"
    url_name = "api_v1:schema"
