from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView

from . import briefings, ratings, tokens, top_lists, watchlists


class DayConverter:
    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> str:
        return value  # validated by the view, so a bad day is a 400 with a message

    def to_url(self, value) -> str:
        return str(value)


register_converter(DayConverter, "day")

app_name = "api_v1"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("tokens/", tokens.TokenList.as_view(), name="tokens"),
    path("tokens/<slug:slug>/", tokens.TokenDetail.as_view(), name="token"),
    path("tokens/<slug:slug>/prices/", tokens.PriceDays.as_view(), name="token-prices"),
    path("tokens/<slug:slug>/revenue/", tokens.RevenueDays.as_view(), name="token-revenue"),
    path("tokens/<slug:slug>/reports/", tokens.Reports.as_view(), name="token-reports"),
    path("tokens/<slug:slug>/events/", tokens.Events.as_view(), name="token-events"),
    path("tokens/<slug:slug>/rating/", ratings.TokenRating.as_view(), name="token-rating"),
    path("tokens/<slug:slug>/ratings/", ratings.RatingHistory.as_view(), name="token-ratings"),
    path("ratings/", ratings.RatingList.as_view(), name="ratings"),
    path("methodology/", ratings.MethodologyView.as_view(), name="methodology"),
    path("top-lists/", top_lists.TopLists.as_view(), name="top-lists"),
    path("top-lists/<slug:slug>/", top_lists.TopListDetail.as_view(), name="top-list"),
    path("watchlists/", watchlists.WatchlistList.as_view(), name="watchlists"),
    path("watchlists/<int:pk>/", watchlists.WatchlistDetail.as_view(), name="watchlist"),
    path("watchlists/<int:pk>/tokens/", watchlists.WatchlistTokens.as_view(), name="watchlist-tokens"),
    path("watchlists/<int:pk>/tokens/<slug:slug>/", watchlists.WatchlistToken.as_view(), name="watchlist-token"),
    path("alert-rules/", watchlists.AlertRuleList.as_view(), name="alert-rules"),
    path("alert-rules/<int:pk>/", watchlists.AlertRuleDetail.as_view(), name="alert-rule"),
    path("briefings/", briefings.BriefingList.as_view(), name="briefings"),
    path("briefings/<day:day>/", briefings.BriefingDetail.as_view(), name="briefing"),
    path("bulk/tokens-<day:day>.csv", tokens.BulkTokens.as_view(), name="bulk-tokens"),
]
