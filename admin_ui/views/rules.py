"""Console pages: rules (being built)."""

urlpatterns: list = []
