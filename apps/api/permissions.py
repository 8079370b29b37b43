"""Scopes: reading needs ``read``; a view that writes names the scope it needs."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import APIKey, Scope


class KeyHasScope(BasePermission):
    message = "This API key lacks the scope this request needs."
    code = "insufficient-scope"

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405
        needed = Scope.READ if request.method in SAFE_METHODS else getattr(view, "write_scope", None)
        return needed is not None and key.has_scope(needed)
