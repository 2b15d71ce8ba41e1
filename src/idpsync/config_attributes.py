"""The default templates of the targets' mapped attributes, and which templates a connector feeds.

Data of the configuration, shared by the targets (:mod:`idpsync.targets.attributes` compiles
and renders the tables) and by the connectors that read some attributes only when a template
uses them (Keycloak's ``user_attributes`` unset: :func:`templates_for`). The table of a target
is its kind's :data:`DEFAULTS` with its ``attributes`` laid over them; ``""`` turns a default
off; the photo's key is a keyword, not a template (:mod:`idpsync.config_photos`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from idpsync.config_photos import PHOTO_KEYS

if TYPE_CHECKING:
    from idpsync.config import TargetSettings

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
"""The SCIM enterprise user extension (RFC 7643 §4.3)."""


def _first_of(*paths: str) -> str:
    """A template giving the first non-empty of ``paths`` (each source keeps HR data elsewhere)."""
    return "{{ " + paths[0] + " | fallback(" + ", ".join(paths[1:]) + ") }}"


def _hr(name: str, *others: str) -> str:
    """A template finding the HR field ``name`` wherever a source keeps it.

    At the top (Entra, OneLogin, a mapped attribute), in Okta's ``profile``, in Keycloak's
    ``attributes`` (a list), then the ``others`` (Google's ``organizations[0]``…).
    """
    return _first_of(
        f"attributes.{name}",
        f"attributes.profile.{name}",
        f"attributes.attributes.{name} | first",
        *others,
    )


_ORG = "attributes.organizations[0]"
_DEPARTMENT = _hr("department", f"{_ORG}.department")
_TITLE = _hr("title", "attributes.jobTitle", f"{_ORG}.title")
_EMPLOYEE_NUMBER = _hr("employeeNumber", "attributes.employeeId")
_MANAGER = "{{ manager_id }}"
_ORGANIZATION = _hr("organization", "attributes.companyName", "attributes.company", f"{_ORG}.name")
_COST_CENTER = _hr("costCenter", "attributes.employeeOrgData.costCenter", f"{_ORG}.costCenter")
_DIVISION = _hr("division", "attributes.employeeOrgData.division")
_EMPLOYEE_TYPE = _hr(
    "employeeType", "attributes.userType", "attributes.profile.userType", f"{_ORG}.description"
)

DEFAULTS: dict[str, dict[str, str]] = {
    "scim": {
        "title": _TITLE,
        f"{ENTERPRISE}:employeeNumber": _EMPLOYEE_NUMBER,
        f"{ENTERPRISE}:costCenter": _COST_CENTER,
        f"{ENTERPRISE}:organization": _ORGANIZATION,
        f"{ENTERPRISE}:division": _DIVISION,
        f"{ENTERPRISE}:department": _DEPARTMENT,
        f"{ENTERPRISE}:manager": _MANAGER,
    },
    "ldap": {
        "manager": _MANAGER,
        "departmentNumber": _DEPARTMENT,
        "employeeNumber": _EMPLOYEE_NUMBER,
        "employeeType": _EMPLOYEE_TYPE,
        "title": _TITLE,
    },
    "crowd": {
        "manager": _MANAGER,
        "department": _DEPARTMENT,
        "employeeNumber": _EMPLOYEE_NUMBER,
        "title": _TITLE,
    },
}
"""The attributes each kind of target receives unless its ``attributes`` table says otherwise."""


def attribute_table(kind: str, configured: Mapping[str, str]) -> dict[str, str]:
    """The templates a target of ``kind`` renders.

    The defaults with ``configured`` laid over them, without blank ones and the photo's key.
    """
    table = {**DEFAULTS.get(kind, {}), **configured}
    table.pop(PHOTO_KEYS.get(kind, ""), None)
    return {key: text for key, text in table.items() if text.strip()}


def templates_for(targets: Mapping[str, TargetSettings], connector: str) -> list[str]:
    """The attribute templates of every enabled target that receives ``connector``'s changes.

    A target with no ``connectors`` list receives every connector's; defaults are included.
    """
    return [
        text
        for target in targets.values()
        if target.enabled and (not target.connectors or connector in target.connectors)
        for text in attribute_table(target.type, target.attributes).values()
    ]
