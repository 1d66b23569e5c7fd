"""``hookline tenant``, ``key`` and ``event-type`` against a real store, as a user runs them."""

from __future__ import annotations

import pytest

BUILT_IN_EVENTS = {"ReportPublished", "AssessmentSubmitted", "EngagementRequested"}


def test_tenant_create_list_disable_enable_round_trip(hookline):
    created = hookline("tenant", "create", "acme").ok()
    assert "acme" in created
    assert hookline("tenant", "create", "globex").code == 0

    listing = hookline("tenant", "list")
    assert listing.table()[0] == ["NAME", "ID", "ENABLED", "CREATED"]
    assert listing.first_cells() == ["acme", "globex"]
    name, tenant_id, enabled, created_at = listing.row("acme")
    assert tenant_id.startswith("ten_")
    assert enabled == "yes"
    assert created_at.endswith("Z")

    hookline("tenant", "disable", "acme").ok()
    assert hookline("tenant", "list").row("acme")[2] == "no"
    assert hookline("tenant", "list").row("globex")[2] == "yes"

    hookline("tenant", "enable", "acme").ok()
    assert hookline("tenant", "list").row("acme") == [name, tenant_id, "yes", created_at]


def test_duplicate_tenant_is_one_error_line(hookline):
    hookline("tenant", "create", "acme").ok()
    again = hookline("tenant", "create", "acme")
    line = again.one_error_line()
    assert line.startswith("hookline: ")
    assert "acme" in line
    assert "exists" in line
    assert again.code == 1
    assert again.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["tenant", "create", "not a name"], 2, "name"),
        (["tenant", "disable", "nobody"], 1, "nobody"),
        (["key", "create", "--tenant", "nobody", "--role", "admin"], 1, "nobody"),
    ],
)
def test_bad_tenant_arguments_are_one_error_line(hookline, args, code, words):
    result = hookline(*args)
    assert words in result.one_error_line()
    assert result.code == code


def test_key_create_prints_the_key_alone_on_stdout_and_list_never_shows_it(hookline):
    hookline("tenant", "create", "acme").ok()
    created = hookline("key", "create", "--tenant", "acme", "--role", "publisher")
    out = created.ok()
    assert out.count("\n") == 1  # KEY=$(hookline key create ...) captures exactly the key
    assert out.endswith("\n")
    plaintext = out.strip()
    assert plaintext.startswith("hk_")
    assert len(plaintext) > 20
    assert plaintext not in created.stderr

    listing = hookline("key", "list")
    assert plaintext not in listing.stdout + listing.stderr
    assert listing.table()[0] == ["ID", "TENANT", "ROLE", "PREFIX", "CREATED", "REVOKED"]
    [row] = listing.table()[1:]
    key_id, tenant, role, prefix, _created, revoked = row
    assert key_id.startswith("key_")
    assert (tenant, role, revoked) == ("acme", "publisher", "-")
    assert plaintext.startswith(prefix)
    assert key_id in created.stderr  # the decoration names the key's id


def test_key_list_filters_by_tenant_and_revoke_twice_is_an_error(hookline):
    for tenant in ("acme", "globex"):
        hookline("tenant", "create", tenant).ok()
    hookline("key", "create", "--tenant", "acme", "--role", "admin").ok()
    hookline("key", "create", "--tenant", "globex", "--role", "viewer").ok()

    only_globex = hookline("key", "list", "--tenant", "globex").table()[1:]
    assert [(row[1], row[2]) for row in only_globex] == [("globex", "viewer")]
    key_id = only_globex[0][0]

    hookline("key", "revoke", key_id).ok()
    revoked = hookline("key", "list").row(key_id)
    assert revoked[5] != "-"
    assert revoked[5].endswith("Z")

    again = hookline("key", "revoke", key_id)
    assert key_id in again.one_error_line()
    assert again.code == 1


def test_key_role_must_be_one_of_the_three(hookline):
    hookline("tenant", "create", "acme").ok()
    result = hookline("key", "create", "--tenant", "acme", "--role", "root")
    assert result.code == 2
    assert "--role" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_event_types_start_with_the_built_ins_and_can_be_added_and_removed(hookline):
    listing = hookline("event-type", "list")
    assert listing.table()[0] == ["NAME", "DESCRIPTION"]
    assert set(listing.first_cells()) == BUILT_IN_EVENTS

    hookline("event-type", "add", "ScanFinished", "--description", "A scan finished.").ok()
    after_add = hookline("event-type", "list")
    assert set(after_add.first_cells()) == BUILT_IN_EVENTS | {"ScanFinished"}
    assert after_add.row("ScanFinished")[1:] == ["A", "scan", "finished."]

    hookline("event-type", "remove", "ScanFinished").ok()
    assert set(hookline("event-type", "list").first_cells()) == BUILT_IN_EVENTS

    again = hookline("event-type", "remove", "ScanFinished")
    assert "ScanFinished" in again.one_error_line()
    assert again.code == 1


def test_removing_an_unknown_event_type_or_adding_a_bad_name_is_an_error(hookline):
    unknown = hookline("event-type", "remove", "NoSuchEvent")
    assert "NoSuchEvent" in unknown.one_error_line()
    assert unknown.code == 1

    duplicate = hookline("event-type", "add", "ReportPublished")
    assert "exists" in duplicate.one_error_line()

    bad = hookline("event-type", "add", "9lives")
    assert "name" in bad.one_error_line()
    assert bad.code == 2


@pytest.mark.postgres
def test_admin_commands_work_on_postgresql(hookline, postgres_url):
    on_pg = {"HOOKLINE_DATABASE_URL": postgres_url}
    assert "acme" in hookline("tenant", "create", "acme", env=on_pg).ok()
    plaintext = hookline("key", "create", "--tenant", "acme", "--role", "admin", env=on_pg).ok()
    plaintext = plaintext.strip()
    assert plaintext.startswith("hk_")

    listing = hookline("key", "list", env=on_pg)
    assert plaintext not in listing.stdout
    [row] = listing.table()[1:]
    assert (row[1], row[2], row[5]) == ("acme", "admin", "-")
    assert hookline("tenant", "list", env=on_pg).first_cells() == ["acme"]
