"""Console page: push (being built)."""

urlpatterns: list = []
