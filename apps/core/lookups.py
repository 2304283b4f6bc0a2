"""`__in` on an integer column ignores values outside the column's range.

Django does so for `exact`, `gt`, `gte`, `lt` and `lte` (IntegerFieldOverflow), not for
`in`: such a value reached SQLite's driver, which refuses integers beyond 64 bits with
OverflowError, and the request answered 500 instead of "not found" or "invalid choice"
(found by schemathesis: `DELETE /api/v1/account/authenticators/webauthn` with a 20-digit
authenticator id). A value out of range matches no row, so leaving it out is exact.
"""

from __future__ import annotations

from django.db.models import IntegerField
from django.db.models.lookups import In


@IntegerField.register_lookup
class IntegerFieldIn(In):
    """`in` for integer columns (and their subclasses: auto ids, big and small ints)."""

    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value():
            internal_type = self.lhs.output_field.get_internal_type()
            low, high = connection.ops.integer_field_range(internal_type)
            self.rhs = [
                value
                for value in self.rhs
                if not isinstance(value, int)
                or ((low is None or value >= low) and (high is None or value <= high))
            ]
        return super().process_rhs(compiler, connection)
