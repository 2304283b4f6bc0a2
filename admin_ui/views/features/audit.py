"""Console page: audit (being built)."""

urlpatterns: list = []
