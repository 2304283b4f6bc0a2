"""Console page: settings (being built)."""

urlpatterns: list = []
