"""Console page: jobs (being built)."""

urlpatterns: list = []
