"""The Okta mapping preset: directory fields from the user's ``profile`` object."""

PRESET: dict[str, str] = {
    "login": "{{ attributes.profile.login | fallback(attributes.login, login) }}",
    "email": "{{ attributes.profile.email | fallback(attributes.email, email) }}",
    "display_name": "{{ attributes.profile.displayName | fallback(display_name) }}",
    "given_name": "{{ attributes.profile.firstName | fallback(given_name) }}",
    "family_name": "{{ attributes.profile.lastName | fallback(family_name) }}",
}
"""Template per directory field, used where the configuration sets none."""
