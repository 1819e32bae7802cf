"""Clients, sites and devices: creation, agent inventory, and reads scoped to what a user sees."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, SQLColumnExpression, or_, select
from sqlalchemy.orm import Session

from server.db import add_unique
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.models import Client, Device, DeviceState, SampleRow, ServicePolicy, Site, User
from server.sla import SlaConfigError, SlaPolicy
from server.state import DeviceStatus
from server.tickets.policy import parse_sla_settings, validate_sla_settings
from server.users import UserPrincipal
from wire.enums import Role
from wire.schema import Inventory, InventoryResult
from wire.validation import name_problem

Row = TypeVarTuple("Row")
TeamSites = Callable[[str], frozenset[int]]
NAME_LENGTH = 200  # clients.name and sites.name


def no_teams(_username: str) -> frozenset[int]:
    """No notify config: no technician is on a team."""
    return frozenset()


# Who works tickets: office roles on every site, a technician on their teams' sites.
ALL_SITES_STAFF = frozenset({Role.ADMIN, Role.MANAGER})
ASSIGNABLE = ALL_SITES_STAFF | {Role.TECHNICIAN}


@dataclass(frozen=True, slots=True)
class Scope:
    """What one signed-in user may see and act on, for the API and the console alike.

    `site_ids` None means every site (admin, manager, desk). A technician sees the sites of the
    notify config's teams they belong to, none without a team, and always the tickets assigned
    to them (a team can change under an assigned ticket); a client user its client's sites.
    Whatever is outside is answered as if it did not exist (404), never as forbidden.
    """

    site_ids: frozenset[int] | None
    user_id: int
    role: Role
    client_id: int | None = None  # a client user's own client

    def allows(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    @property
    def on_no_team(self) -> bool:
        """A technician whose teams serve no site: they see only what is assigned to them."""
        return self.role is Role.TECHNICIAN and not self.site_ids

    def allows_ticket(self, site_id: int, assignee_id: int | None) -> bool:
        return self.allows(site_id) or self._owns(assignee_id)

    @property
    def sees_internals(self) -> bool:
        """Staff notes, audit data and hardware serials are the service team's: a client user
        sees its tickets' states and times and its devices' health, what its status page
        promises, and no more. The one place this is decided, for every answer."""
        return self.role is not Role.CLIENT

    def _owns(self, assignee_id: int | None) -> bool:
        return self.role is Role.TECHNICIAN and assignee_id == self.user_id

    def where_site(
        self, query: Select[*Row], site_column: SQLColumnExpression[int]
    ) -> Select[*Row]:
        """`query` narrowed to the visible sites by its `site_column` (as is for all-seeing)."""
        if self.site_ids is None:
            return query
        return query.where(site_column.in_(sorted(self.site_ids)))

    def where_ticket(
        self,
        query: Select[*Row],
        site_column: SQLColumnExpression[int],
        assignee_column: SQLColumnExpression[int | None],
    ) -> Select[*Row]:
        """`query` narrowed to the visible tickets: on a visible site, or assigned to them."""
        if self.site_ids is None:
            return query
        on_site = site_column.in_(sorted(self.site_ids))
        if self.role is not Role.TECHNICIAN:
            return query.where(on_site)
        return query.where(or_(on_site, assignee_column == self.user_id))

    def sees_scorecard(self, technician_id: int | None) -> bool:
        """Staff compare technicians; a technician sees their own scorecard; a client none."""
        if self.role is Role.CLIENT:
            return False
        if self.role is Role.TECHNICIAN:
            return technician_id == self.user_id
        return True


def scope_for(
    user: UserPrincipal,
    *,
    team_sites: Callable[[str], frozenset[int]],
    client_sites: Callable[[int], frozenset[int]],
) -> Scope:
    """The rule itself; `team_sites` reads the notify config, `client_sites` the database."""
    if user.role is Role.TECHNICIAN:
        return Scope(team_sites(user.username), user.user_id, user.role)
    if user.role is Role.CLIENT:
        # create_user refuses a client user without a client; such a row would see nothing.
        sites = frozenset() if user.client_id is None else client_sites(user.client_id)
        return Scope(sites, user.user_id, user.role, client_id=user.client_id)
    return Scope(None, user.user_id, user.role)


def scope_of(
    *, session: Session, user: UserPrincipal, team_sites: Callable[[str], frozenset[int]]
) -> Scope:
    """`scope_for` with a client's sites read from the database."""

    def client_sites(client_id: int) -> frozenset[int]:
        return frozenset(session.scalars(select(Site.id).where(Site.client_id == client_id)))

    return scope_for(user, team_sites=team_sites, client_sites=client_sites)


@dataclass(frozen=True, slots=True)
class Assignee:
    id: int
    username: str


def covers(*, role: Role, username: str, site_id: int, team_sites: TeamSites) -> bool:
    """Whether this person works the site's tickets (and so may be assigned one)."""
    if role in ALL_SITES_STAFF:
        return True
    return role is Role.TECHNICIAN and site_id in team_sites(username)


def site_staff(*, session: Session, site_id: int, team_sites: TeamSites) -> list[Assignee]:
    """The people a ticket on this site may be assigned to, by name."""
    rows = session.execute(
        select(User.id, User.username, User.role)
        .where(User.role.in_(sorted(r.value for r in ASSIGNABLE)))
        .order_by(User.username)
    ).all()
    return [
        Assignee(id=row.id, username=row.username)
        for row in rows
        if covers(
            role=Role(row.role), username=row.username, site_id=site_id, team_sites=team_sites
        )
    ]


def check_assignee(
    *, session: Session, site_id: int, assignee_id: int, team_sites: TeamSites
) -> None:
    """InvalidInputError unless `assignee_id` is staff covering the site (unknown ids too)."""
    user = session.get(User, assignee_id)
    if user is None or not covers(
        role=Role(user.role), username=user.username, site_id=site_id, team_sites=team_sites
    ):
        raise InvalidInputError(
            f"user {assignee_id} is not staff covering site {site_id}",
            [{"field": "assignee_id", "message": "not staff covering this site"}],
        )


def _check_name(name: str, what: str) -> None:
    problem = name_problem(name, max_length=NAME_LENGTH)
    if problem is not None:
        raise InvalidInputError(f"{what} {problem}", [{"field": "name", "message": problem}])


def create_client(
    *, session: Session, name: str, now: datetime, sla_preset: str | None = None
) -> Client:
    """A client, with its SLA preset stored when one is given (else the shipped default)."""
    _check_name(name, "client name")
    sla = None
    if sla_preset is not None:
        try:
            sla = validate_sla_settings({"preset": sla_preset})
        except SlaConfigError as err:
            raise InvalidInputError(str(err)) from err
    client = Client(name=name, created_at=now)
    client = add_unique(session=session, row=client, conflict=f"client {name!r} already exists")
    if sla is not None:
        session.add(ServicePolicy(client_id=client.id, severity={}, sla=sla, updated_at=now))
        session.flush()
    return client


def client_sla_policy(*, session: Session, client_id: int) -> SlaPolicy:
    """The SLA policy the client's tickets get their deadlines from."""
    row = session.get(ServicePolicy, client_id)
    return parse_sla_settings(row.sla if row else {})[0]


def client_by_name(*, session: Session, name: str) -> Client:
    client = session.scalars(select(Client).where(Client.name == name)).one_or_none()
    if client is None:
        raise NotFoundError(f"no client named {name!r}")
    return client


def create_site(
    *, session: Session, client_id: int, name: str, zone: str, timezone: str, now: datetime
) -> Site:
    _check_name(name, "site name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConflictError(f"unknown time zone {timezone!r}") from err
    try:  # a zone the policy has no cell for would leave the site's tickets without deadlines
        client_sla_policy(session=session, client_id=client_id).check_zone(zone)
    except SlaConfigError as err:
        raise InvalidInputError(str(err)) from err
    site = Site(client_id=client_id, name=name, zone=zone, timezone=timezone, created_at=now)
    return add_unique(
        session=session, row=site, conflict=f"site {name!r} already exists for this client"
    )


def site_by_name(*, session: Session, name: str, client_name: str | None) -> Site:
    query = select(Site).where(Site.name == name)
    if client_name is not None:
        query = query.join(Client).where(Client.name == client_name)
    found = session.scalars(query).all()
    if not found:
        owner = f" for client {client_name!r}" if client_name else ""
        raise NotFoundError(f"no site named {name!r}{owner}")
    if len(found) > 1:
        raise ConflictError(f"several clients have a site named {name!r}; give the client")
    return found[0]


def register_inventory(
    *, session: Session, site_id: int, inventory: Inventory, now: datetime
) -> InventoryResult:
    """Upsert the agent's devices under its site; new devices start in state unknown."""
    existing = {
        d.ext_id: d for d in session.scalars(select(Device).where(Device.site_id == site_id))
    }
    registered = updated = 0
    for item in inventory.devices:
        fields: dict[str, Any] = {
            "name": item.name,
            "device_class": item.device_class.value,
            "subsystem": item.subsystem.value,
            "protocol": item.protocol.value,
            "parent_ext_id": item.parent_id,
            "vendor": item.identity.vendor,
            "model": item.identity.model,
            "serial": item.identity.serial,
            "firmware": item.identity.firmware,
            "last_registered_at": now,
        }
        device = existing.get(item.id)
        if device is None:
            device = Device(site_id=site_id, ext_id=item.id, first_registered_at=now, **fields)
            session.add(device)
            session.flush()
            session.add(
                DeviceState(
                    device_id=device.id,
                    status=DeviceStatus.UNKNOWN.value,
                    checks={},
                    updated_at=now,
                )
            )
            existing[item.id] = device
            registered += 1
        else:
            for key, value in fields.items():
                setattr(device, key, value)
            updated += 1
    session.flush()
    return InventoryResult(registered=registered, updated=updated)


# Reads for the API and the console. `scope` is the caller's (`scope_of`); None sees all.


def list_sites(*, session: Session, scope: Scope | None) -> Sequence[Site]:
    query = select(Site).order_by(Site.id)
    if scope is not None:
        query = scope.where_site(query, Site.id)
    return session.scalars(query).all()


def get_site(*, session: Session, site_id: int, scope: Scope | None) -> Site:
    site = session.get(Site, site_id)
    if site is None or (scope is not None and not scope.allows(site.id)):
        raise NotFoundError(f"no site {site_id}")
    return site


def get_client(*, session: Session, client_id: int, scope: Scope | None) -> Client:
    """A client is visible to a user who sees one of its sites (a client user: its own)."""
    client = session.get(Client, client_id)
    if client is None or not _client_visible(session, client_id, scope):
        raise NotFoundError(f"no client {client_id}")
    return client


def _client_visible(session: Session, client_id: int, scope: Scope | None) -> bool:
    if scope is None or scope.site_ids is None:
        return True
    if scope.client_id is not None:
        return scope.client_id == client_id  # its own, even before it has a site
    query = scope.where_site(select(Site.id).where(Site.client_id == client_id), Site.id)
    return session.scalar(query.limit(1)) is not None


@dataclass(frozen=True, slots=True)
class DeviceWithState:
    device: Device
    state: DeviceState | None


def list_devices(*, session: Session, site_id: int, scope: Scope | None) -> list[DeviceWithState]:
    get_site(session=session, site_id=site_id, scope=scope)
    rows = session.execute(
        select(Device, DeviceState)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.site_id == site_id)
        .order_by(Device.ext_id)
    ).all()
    return [DeviceWithState(device=d, state=s) for d, s in rows]


def get_device(*, session: Session, device_id: int, scope: Scope | None) -> DeviceWithState:
    row = session.execute(
        select(Device, DeviceState)
        .outerjoin(DeviceState, DeviceState.device_id == Device.id)
        .where(Device.id == device_id)
    ).one_or_none()
    if row is None or (scope is not None and not scope.allows(row[0].site_id)):
        raise NotFoundError(f"no device {device_id}")
    return DeviceWithState(device=row[0], state=row[1])


def recent_samples(
    *,
    session: Session,
    device_id: int,
    scope: Scope | None,
    limit: int,
    before: datetime | None,
) -> Sequence[SampleRow]:
    """Newest first, served by the (device_id, ts) index."""
    get_device(session=session, device_id=device_id, scope=scope)
    query = select(SampleRow).where(SampleRow.device_id == device_id)
    if before is not None:
        query = query.where(SampleRow.ts < before)
    return session.scalars(query.order_by(SampleRow.ts.desc()).limit(limit)).all()
