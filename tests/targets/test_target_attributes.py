"""Per-target attribute mapping without a server: templates, defaults and the SCIM builders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from idpsync.config import TargetSettings
from idpsync.model import DirUser
from idpsync.targets import scim_protocol as proto
from idpsync.targets.attributes import (
    ENTERPRISE,
    AttributeMap,
    UserRef,
    is_reference,
    schema_of,
)
from idpsync.templating import TemplateProblem

CUSTOM = "urn:example:params:scim:schemas:extension:acme:2.0:User"


def ada(**attributes: object) -> DirUser:
    return DirUser(
        source_id="u1",
        login="ada",
        email="ada@example.org",
        manager_id="u9",
        attributes=attributes,  # type: ignore[arg-type]
    )


def test_scim_defaults_render_the_enterprise_extension_and_the_manager_id() -> None:
    mapping = AttributeMap.build("scim", {})
    values = mapping.render(ada(department="R&D", employeeId="E-7", jobTitle="Engineer"))
    assert values[f"{ENTERPRISE}:department"] == "R&D"
    assert values[f"{ENTERPRISE}:employeeNumber"] == "E-7"  # employeeId as the fallback
    assert values["title"] == "Engineer"
    assert values[f"{ENTERPRISE}:manager"] == "u9"  # a source id, resolved by delivery
    assert values[f"{ENTERPRISE}:costCenter"] is None  # blank: remove / do not send
    assert mapping.references() == [f"{ENTERPRISE}:manager"]


def test_configured_templates_override_add_and_turn_defaults_off() -> None:
    mapping = AttributeMap.build(
        "ldap",
        {
            "title": "{{ attributes.title | upper }}",
            "employeeType": "",
            "roomNumber": "{{ attributes.office.room }}",
        },
    )
    assert "employeeType" not in mapping.templates
    values = mapping.render(ada(title="cto", office={"room": "B-12"}))
    assert (values["title"], values["roomNumber"], values["manager"]) == ("CTO", "B-12", "u9")
    assert values["departmentNumber"] is None


def test_each_kind_has_its_own_defaults() -> None:
    assert set(AttributeMap.build("crowd", {}).templates) == {
        "manager",
        "department",
        "employeeNumber",
        "title",
    }
    assert "departmentNumber" in AttributeMap.build("ldap", {}).templates
    assert f"{ENTERPRISE}:organization" in AttributeMap.build("scim", {}).templates


def test_a_template_failing_for_a_user_says_why() -> None:
    mapping = AttributeMap.build("crowd", {"department": "{{ attributes.department.__class__ }}"})
    with pytest.raises(TemplateProblem):
        mapping.render(ada(department="R&D"))


def test_a_broken_template_is_refused_when_the_configuration_is_loaded() -> None:
    with pytest.raises(ValidationError, match="attributes"):
        TargetSettings.model_validate(
            {
                "type": "scim",
                "url": "https://scim.example.org/v2",
                "attributes": {"title": "{{ attributes.title | no_such_filter }}"},
            }
        )


def test_references_and_schemas_of_keys() -> None:
    assert is_reference("manager") and is_reference(f"{ENTERPRISE}:manager")
    assert not is_reference("managerName") and not is_reference("title")
    assert schema_of(f"{ENTERPRISE}:department") == ENTERPRISE
    assert schema_of(f"{CUSTOM}:badge") == CUSTOM
    assert schema_of("title") is None


def test_scim_ops_send_only_advertised_extensions() -> None:
    values = {
        "title": "Engineer",
        f"{ENTERPRISE}:department": "R&D",
        f"{ENTERPRISE}:manager": UserRef("id-9"),
        f"{ENTERPRISE}:costCenter": None,
        f"{CUSTOM}:badge": "42",
    }
    ops = proto.attribute_ops(values, frozenset({ENTERPRISE}))
    assert ops == [
        {"op": "replace", "path": "title", "value": "Engineer"},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "R&D"},
        {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": "id-9"}},
        {"op": "remove", "path": f"{ENTERPRISE}:costCenter"},
    ]
    assert proto.attribute_ops(values, frozenset()) == [ops[0]]
    custom = proto.attribute_ops(values, frozenset({CUSTOM}))
    assert {"op": "replace", "path": f"{CUSTOM}:badge", "value": "42"} in custom


def test_user_extensions_are_read_from_resource_types() -> None:
    listing = {
        "Resources": [
            {"name": "Group", "schemaExtensions": [{"schema": "urn:x:group"}]},
            {
                "name": "User",
                "schemaExtensions": [{"schema": ENTERPRISE, "required": False}, {"x": 1}],
            },
        ]
    }
    assert proto.user_extensions(listing) == frozenset({ENTERPRISE})
    assert proto.user_extensions({"Resources": "nonsense"}) == frozenset()
    assert proto.user_extensions([]) == frozenset()


@pytest.mark.parametrize(
    "attributes",
    [
        {"department": "R&D", "jobTitle": "Engineer", "employeeId": "E-1"},  # entra
        {"profile": {"department": "R&D", "title": "Engineer", "employeeNumber": "E-1"}},  # okta
        {"organizations": [{"department": "R&D", "title": "Engineer"}]},  # google
        {"attributes": {"department": ["R&D"], "title": ["Engineer"]}},  # keycloak
        {"department": "R&D", "title": "Engineer"},  # onelogin
    ],
)
def test_defaults_find_hr_fields_where_each_source_keeps_them(attributes: object) -> None:
    values = AttributeMap.build("ldap", {}).render(ada(**attributes))  # type: ignore[arg-type]
    assert (values["departmentNumber"], values["title"]) == ("R&D", "Engineer")


def test_cost_centre_division_and_company_of_entra_and_google() -> None:
    scim = AttributeMap.build("scim", {})
    entra = scim.render(
        ada(companyName="Acme", employeeOrgData={"costCenter": "CC-1", "division": "EMEA"})
    )
    assert (
        entra[f"{ENTERPRISE}:costCenter"],
        entra[f"{ENTERPRISE}:division"],
        entra[f"{ENTERPRISE}:organization"],
    ) == ("CC-1", "EMEA", "Acme")
    google = scim.render(ada(organizations=[{"name": "Acme", "costCenter": "CC-2"}]))
    assert google[f"{ENTERPRISE}:organization"] == "Acme"
    assert google[f"{ENTERPRISE}:costCenter"] == "CC-2"
    assert scim.render(ada(organizations=[]))[f"{ENTERPRISE}:organization"] is None
