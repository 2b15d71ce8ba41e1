"""The Google Workspace mapping preset: directory fields from the Directory API's user."""

PRESET: dict[str, str] = {
    "login": "{{ attributes.primaryEmail | fallback(login) }}",
    "email": "{{ attributes.primaryEmail | fallback(email) }}",
    "display_name": "{{ attributes.name.fullName | fallback(display_name) }}",
    "given_name": "{{ attributes.name.givenName | fallback(given_name) }}",
    "family_name": "{{ attributes.name.familyName | fallback(family_name) }}",
}
"""Template per directory field, used where the configuration sets none."""
