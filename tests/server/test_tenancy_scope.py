"""The one scope rule the API and the console share (`server.tenancy.scope_for`): who sees
which sites, and how a query is narrowed to them. The HTTP side is in test_api_scope.py."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.models import Base, Client, Site
from server.tenancy import Scope, covers, scope_for, scope_of
from server.users import UserPrincipal
from wire.enums import Role

TEAMS = {"tina": frozenset({1, 2}), "tom": frozenset({3})}
CLIENT_SITES = {10: frozenset({4, 5})}


def _user(role: Role, username: str = "u", client_id: int | None = None) -> UserPrincipal:
    return UserPrincipal(user_id=7, username=username, role=role, client_id=client_id)


def _recording() -> tuple[
    list[str], list[int], Callable[[str], frozenset[int]], Callable[[int], frozenset[int]]
]:
    teams_asked: list[str] = []
    clients_asked: list[int] = []

    def team_sites(username: str) -> frozenset[int]:
        teams_asked.append(username)
        return TEAMS.get(username, frozenset())

    def client_sites(client_id: int) -> frozenset[int]:
        clients_asked.append(client_id)
        return CLIENT_SITES.get(client_id, frozenset())

    return teams_asked, clients_asked, team_sites, client_sites


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.DESK])
def test_office_roles_see_every_site_without_asking_teams_or_clients(role: Role) -> None:
    teams_asked, clients_asked, team_sites, client_sites = _recording()
    scope = scope_for(_user(role, "tina"), team_sites=team_sites, client_sites=client_sites)
    assert scope.site_ids is None
    assert all(scope.allows(site) for site in (1, 3, 999))
    assert (teams_asked, clients_asked) == ([], [])


def test_a_technician_sees_the_sites_of_their_teams_only() -> None:
    teams_asked, clients_asked, team_sites, client_sites = _recording()
    scope = scope_for(
        _user(Role.TECHNICIAN, "tina"), team_sites=team_sites, client_sites=client_sites
    )
    assert scope.site_ids == frozenset({1, 2})
    assert all(scope.allows(site) for site in (1, 2))
    assert not scope.allows(3)
    assert teams_asked == ["tina"]
    assert clients_asked == []
    assert scope.client_id is None


def test_a_technician_in_no_team_sees_nothing() -> None:
    _, _, team_sites, client_sites = _recording()
    scope = scope_for(
        _user(Role.TECHNICIAN, "nobody"), team_sites=team_sites, client_sites=client_sites
    )
    assert scope.site_ids == frozenset()
    assert not any(scope.allows(site) for site in range(10))


def test_a_client_user_sees_its_clients_sites() -> None:
    teams_asked, clients_asked, team_sites, client_sites = _recording()
    scope = scope_for(
        _user(Role.CLIENT, "tina", client_id=10), team_sites=team_sites, client_sites=client_sites
    )
    assert scope.site_ids == frozenset({4, 5})
    assert scope.client_id == 10
    assert not scope.allows(1)  # a username that is also in a team changes nothing
    assert (teams_asked, clients_asked) == ([], [10])


def test_a_client_user_without_a_client_sees_nothing() -> None:
    _, clients_asked, team_sites, client_sites = _recording()
    scope = scope_for(_user(Role.CLIENT), team_sites=team_sites, client_sites=client_sites)
    assert scope.site_ids == frozenset()
    assert clients_asked == []


def test_scorecards_staff_all_technician_own_client_none() -> None:
    manager = Scope(None, 7, Role.MANAGER)
    tech = Scope(frozenset({1}), 7, Role.TECHNICIAN)
    client = Scope(frozenset({1}), 7, Role.CLIENT, client_id=10)
    assert all(manager.sees_scorecard(who) for who in (7, 8, None))
    assert tech.sees_scorecard(7)
    assert not tech.sees_scorecard(8)
    assert not tech.sees_scorecard(None)  # unassigned tickets are not a scorecard of theirs
    assert not client.sees_scorecard(10)


def test_a_technician_always_sees_the_tickets_assigned_to_them() -> None:
    lonely = Scope(frozenset(), 7, Role.TECHNICIAN)
    assert lonely.on_no_team
    assert lonely.allows_ticket(3, 7)  # assigned to them, on a site of no team of theirs
    assert not lonely.allows_ticket(3, 8)
    assert not lonely.allows_ticket(3, None)
    teamed = Scope(frozenset({1}), 7, Role.TECHNICIAN)
    assert not teamed.on_no_team
    assert teamed.allows_ticket(1, None)
    assert teamed.allows_ticket(2, 7)
    assert not teamed.allows_ticket(2, 8)
    # Only a technician owns tickets: a client user's id as assignee opens nothing.
    client = Scope(frozenset({1}), 7, Role.CLIENT, client_id=10)
    assert not client.on_no_team
    assert not client.allows_ticket(2, 7)


@given(
    role=st.sampled_from(list(Role)),
    teams=st.frozensets(st.integers(min_value=1, max_value=20), max_size=5),
    site=st.integers(min_value=1, max_value=20),
)
def test_office_staff_cover_every_site_a_technician_their_teams_others_none(
    role: Role, teams: frozenset[int], site: int
) -> None:
    covered = covers(role=role, username="u", site_id=site, team_sites=lambda _u: teams)
    expected = {
        Role.ADMIN: True,
        Role.MANAGER: True,
        Role.TECHNICIAN: site in teams,
        Role.DESK: False,
        Role.CLIENT: False,
    }[role]
    assert covered == expected


@given(
    sites=st.frozensets(st.integers(min_value=1, max_value=50), max_size=10),
    site=st.integers(min_value=1, max_value=50),
)
def test_a_technician_is_allowed_exactly_their_teams_sites(
    sites: frozenset[int], site: int
) -> None:
    scope = scope_for(
        _user(Role.TECHNICIAN), team_sites=lambda _u: sites, client_sites=lambda _c: frozenset()
    )
    assert scope.allows(site) == (site in sites)


def test_where_site_narrows_a_query_to_the_visible_sites() -> None:
    """Run on a real (in-memory SQLite) database: the filter a list endpoint uses."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    now = datetime.now(UTC)
    with Session(engine) as session:
        client = Client(name="c", created_at=now)
        session.add(client)
        session.flush()
        ids = []
        for name in ("a", "b", "c"):
            site = Site(client_id=client.id, name=name, zone="z", timezone="UTC", created_at=now)
            session.add(site)
            session.flush()
            ids.append(site.id)
        query = select(Site.id).order_by(Site.id)

        def visible(scope: Scope) -> list[int]:
            return list(session.scalars(scope.where_site(query, Site.id)))

        assert visible(Scope(None, 1, Role.MANAGER)) == ids
        assert visible(Scope(frozenset({ids[1]}), 1, Role.TECHNICIAN)) == [ids[1]]
        assert visible(Scope(frozenset(), 1, Role.TECHNICIAN)) == []
        # scope_of reads a client user's sites from the database.
        user = UserPrincipal(user_id=1, username="c", role=Role.CLIENT, client_id=client.id)
        scope = scope_of(session=session, user=user, team_sites=lambda _u: frozenset())
        assert scope.site_ids == frozenset(ids)
    engine.dispose()
