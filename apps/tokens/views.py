"""Token pages: home, screener, token page. Thin: parse, call a selector, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .models import Token


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "tokens/home.html", {})


def screener(request: HttpRequest) -> HttpResponse:
    return render(request, "tokens/screener.html", {"tokens": Token.objects.all()[:50]})


def token_detail(request: HttpRequest, slug: str) -> HttpResponse:
    token = get_object_or_404(Token, slug=slug)
    return render(request, "tokens/detail.html", {"token": token})
