from django.urls import path

from apps.newsletter import views

app_name = "newsletter"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("account/subscribe/", views.account_subscribe, name="account_subscribe"),
    path("account/unsubscribe/", views.account_unsubscribe, name="account_unsubscribe"),
]
