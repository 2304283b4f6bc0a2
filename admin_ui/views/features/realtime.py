"""Console page: realtime (being built)."""

urlpatterns: list = []
