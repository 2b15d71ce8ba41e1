"""The Entra ID mapping preset: directory fields from Microsoft Graph's user attributes.

A guest's ``#EXT#`` user principal name is turned back into the guest's own address
(``entra_guest``); without ``mail`` the address falls back to the first of ``otherMails``.
"""

PRESET: dict[str, str] = {
    "login": "{{ attributes.userPrincipalName | fallback(login) | entra_guest }}",
    "email": "{{ attributes.mail | fallback(attributes.otherMails | first,"
    " attributes.userPrincipalName | entra_guest, email) }}",
    "display_name": "{{ attributes.displayName | fallback(display_name) }}",
    "given_name": "{{ attributes.givenName | fallback(given_name) }}",
    "family_name": "{{ attributes.surname | fallback(family_name) }}",
}
"""Template per directory field, used where the configuration sets none."""
