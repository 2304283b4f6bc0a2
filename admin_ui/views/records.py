"""Console pages: records (being built)."""

urlpatterns: list = []
