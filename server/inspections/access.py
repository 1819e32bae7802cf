"""Who may do what to an inspection, for the API and the console alike. Pure.

Which sites a user reaches is the tenancy `Scope`'s business (a client its own sites, a
technician their teams' sites); this table says which roles may act at all.
"""

from enum import StrEnum

from wire.enums import Role


class InspectionAction(StrEnum):
    VIEW = "view"
    GENERATE = "generate"
    ANSWER = "answer"
    SIGN_TECHNICIAN = "sign_technician"
    SIGN_CLIENT = "sign_client"
    AMEND = "amend"


_OFFICE = frozenset({Role.ADMIN, Role.MANAGER})
ROLES: dict[InspectionAction, frozenset[Role]] = {
    InspectionAction.VIEW: frozenset(Role),
    InspectionAction.GENERATE: _OFFICE,
    InspectionAction.ANSWER: _OFFICE | {Role.TECHNICIAN},
    InspectionAction.SIGN_TECHNICIAN: _OFFICE | {Role.TECHNICIAN},
    InspectionAction.SIGN_CLIENT: frozenset({Role.CLIENT}),
    InspectionAction.AMEND: _OFFICE | {Role.TECHNICIAN},
}


def allowed(action: InspectionAction, role: Role) -> bool:
    return role in ROLES[action]
