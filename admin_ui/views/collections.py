"""Console pages: collections (being built)."""

urlpatterns: list = []
