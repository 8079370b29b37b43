from django.urls import path

from . import views

app_name = "watchlists"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("star/<slug:slug>/", views.star, name="star"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/export.csv", views.export_csv, name="export"),
    path("<int:pk>/tokens/<slug:slug>/remove/", views.remove_item, name="remove"),
]
