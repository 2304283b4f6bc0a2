"""Console page: files (being built)."""

urlpatterns: list = []
