"""The OneLogin mapping preset: directory fields from the users API.

A user without a username logs in with the email address; without a display name, the first
and last names joined by a space are used.
"""

PRESET: dict[str, str] = {
    "login": "{{ attributes.username | fallback(login, attributes.email) }}",
    "email": "{{ attributes.email | fallback(email) }}",
    "display_name": "{{ display_name | fallback(((attributes.firstname or '') ~ ' '"
    " ~ (attributes.lastname or '')) | trim) }}",
    "given_name": "{{ attributes.firstname | fallback(given_name) }}",
    "family_name": "{{ attributes.lastname | fallback(family_name) }}",
}
"""Template per directory field, used where the configuration sets none."""
