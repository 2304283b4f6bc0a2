"""Console page: webhooks (being built)."""

urlpatterns: list = []
