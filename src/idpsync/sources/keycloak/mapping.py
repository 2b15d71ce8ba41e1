"""The Keycloak mapping preset: directory fields from the admin API's user representation.

Without a display name, the first and last names joined by a space are used.
"""

PRESET: dict[str, str] = {
    "login": "{{ attributes.username | fallback(login) }}",
    "email": "{{ attributes.email | fallback(email) }}",
    "display_name": "{{ first_non_empty(display_name, ((attributes.firstName or '') ~ ' '"
    " ~ (attributes.lastName or '')) | trim) }}",
    "given_name": "{{ attributes.firstName | fallback(given_name) }}",
    "family_name": "{{ attributes.lastName | fallback(family_name) }}",
}
"""Template per directory field, used where the configuration sets none."""
