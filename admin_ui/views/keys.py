"""Console pages: keys (being built)."""

urlpatterns: list = []
