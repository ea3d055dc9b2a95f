"""Serializer fields shared by the apps."""

from rest_framework import serializers

from ml import names
from ml.errors import UserError


class NameField(serializers.CharField):
    """A CharField holding a name: printable (`ml.names`), stored in NFC; a bad character is a 400 on the field."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return names.clean_name(value, field=self.field_name, max_length=self.max_length)
        except UserError as exc:
            raise serializers.ValidationError(exc.message, code="invalid") from None
