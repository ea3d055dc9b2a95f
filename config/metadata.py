"""What OPTIONS answers on every endpoint (its own module: DRF imports it while `rest_framework.views` loads)."""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    """OPTIONS answers the view's name, description, renderers and parsers. DRF's `actions` (a form of each
    writable serializer) is left out: it loads the object through `get_object`, which views that look objects up
    themselves do not all have, and /api/schema/ describes every body better."""

    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        metadata.pop("actions", None)
        return metadata

    def determine_actions(self, request, view):
        return {}
