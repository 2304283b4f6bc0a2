"""Console pages: users (being built)."""

urlpatterns: list = []
