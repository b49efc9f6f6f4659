"""The recipient rules: one example per rule, and properties over random channels."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.engine.chat import recipients as r
from pushgate.engine.chat.preferences import PushPreference, resolve
from pushgate.engine.chat.recipients import Audience, Post, Rules, Skip, select

NOW = 1_000_000.0
LATER = NOW + 60
EARLIER = NOW - 60


def reasons(selection: r.Selection) -> dict[str, str]:
    return {s.user_id: s.reason for s in selection.skipped}


def run(post: Post, audience: Audience, rules: Rules = Rules()) -> r.Selection:
    return select(post, audience, rules, NOW)


# --- one example per rule --------------------------------------------------------------


def test_members_other_than_the_sender_get_it() -> None:
    got = run(Post("alice"), Audience(["alice", "bob", "carol"]))
    assert got.recipients == ["bob", "carol"]
    assert got.skipped == [Skip("alice", r.SENDER)]


def test_mentioned_non_members_get_nothing() -> None:
    got = run(Post("alice", mentioned=["zed", "bob"]), Audience(["alice", "bob"]))
    assert got.recipients == ["bob"]
    assert reasons(got)["zed"] == r.NOT_MEMBER


def test_online_members_are_skipped_unless_the_app_says_otherwise() -> None:
    audience = Audience(["alice", "bob", "carol"], online_until={"bob": LATER, "carol": EARLIER})
    got = run(Post("alice"), audience)
    assert got.recipients == ["carol"]  # carol's presence expired
    assert reasons(got)["bob"] == r.ONLINE
    assert run(Post("alice"), audience, Rules(skip_online=False)).recipients == ["bob", "carol"]


def test_thread_reply_reaches_participants_and_those_mentioned_in_it() -> None:
    audience = Audience(["alice", "bob", "carol", "dave"], thread_participants=frozenset({"bob"}))
    got = run(Post("alice", mentioned=["dave"], parent_id="m1"), audience)
    assert got.recipients == ["dave", "bob"]
    assert reasons(got)["carol"] == r.NOT_THREAD_PARTICIPANT
    # The same members outside a thread all get it.
    assert run(Post("alice"), audience).recipients == ["bob", "carol", "dave"]


def test_muted_sender_and_muted_channel_skip_until_the_mute_expires() -> None:
    audience = Audience(
        ["alice", "bob", "carol", "dave", "erin"],
        sender_muted_by={"bob": None, "erin": EARLIER},
        channel_mutes={"carol": LATER, "dave": EARLIER},
    )
    got = run(Post("alice"), audience)
    assert reasons(got) == {"alice": r.SENDER, "bob": r.SENDER_MUTED, "carol": r.CHANNEL_MUTED}
    assert got.recipients == ["dave", "erin"]


def test_skip_push_and_disabled_channel_reach_nobody() -> None:
    members = ["alice", "bob"]
    got = run(Post("alice", skip_push=True), Audience(members))
    assert got.recipients == [] and reasons(got)["bob"] == r.SKIP_PUSH
    got = run(Post("alice"), Audience(members, push_enabled=False))
    assert got.recipients == [] and reasons(got)["bob"] == r.CHANNEL_PUSH_DISABLED


def test_preferences_none_mentions_and_snooze() -> None:
    audience = Audience(
        ["alice", "bob", "carol", "dave", "erin"],
        user_preferences={
            "bob": PushPreference("none"),
            "carol": PushPreference("mentions"),
            "dave": PushPreference("mentions"),
            "erin": PushPreference(disabled_until=LATER),
        },
    )
    got = run(Post("alice", mentioned=["dave"]), audience)
    assert got.recipients == ["dave"]
    assert reasons(got) == {
        "alice": r.SENDER,
        "bob": r.PREFERENCE_NONE,
        "carol": r.PREFERENCE_MENTIONS,
        "erin": r.SNOOZED,
    }


def test_precedence_member_over_user_over_channel() -> None:
    audience = Audience(
        ["alice", "bob", "carol", "dave"],
        channel_preference=PushPreference("none"),
        user_preferences={"bob": PushPreference("all"), "carol": PushPreference("all")},
        member_preferences={"carol": PushPreference("none")},
    )
    got = run(Post("alice"), audience)
    assert got.recipients == ["bob"]
    assert reasons(got) == {
        "alice": r.SENDER,
        "carol": r.PREFERENCE_NONE,  # member beats user
        "dave": r.PREFERENCE_NONE,  # channel applies when nothing closer is set
    }


def test_snooze_ends() -> None:
    audience = Audience(["alice", "bob"], user_preferences={"bob": PushPreference(None, EARLIER)})
    assert run(Post("alice"), audience).recipients == ["bob"]


def test_cap_keeps_mentioned_members_first_then_member_order() -> None:
    members = ["alice"] + [f"u{i:03}" for i in range(150)]
    got = run(Post("alice", mentioned=["u149", "u120"]), Audience(members))
    assert len(got.recipients) == 100
    assert got.recipients[:3] == ["u149", "u120", "u000"]
    assert got.recipients[-1] == "u097"
    capped = [s.user_id for s in got.skipped if s.reason == r.RECIPIENT_CAP]
    assert capped == [f"u{i:03}" for i in range(98, 150) if i != 120 and i != 149]
    assert len(run(Post("alice"), Audience(members), Rules(max_recipients=7)).recipients) == 7


def test_first_rule_in_order_names_the_reason() -> None:
    audience = Audience(
        ["alice", "bob"],
        sender_muted_by={"bob": None},
        channel_mutes={"bob": None},
        online_until={"bob": LATER},
        user_preferences={"bob": PushPreference("none")},
    )
    assert reasons(run(Post("alice"), audience))["bob"] == r.SENDER_MUTED


def test_resolve_precedence_field_by_field() -> None:
    got = resolve(PushPreference("mentions"), PushPreference("none", LATER), PushPreference("all"))
    assert (got.level, got.disabled_until) == ("mentions", LATER)
    assert resolve().level == "all"


# --- properties --------------------------------------------------------------------------

USERS = [f"u{i}" for i in range(12)]
user_ids = st.sampled_from(USERS)
expiry = st.one_of(st.none(), st.sampled_from([EARLIER, LATER]))
preference = st.builds(
    PushPreference,
    level=st.one_of(st.none(), st.sampled_from(["all", "mentions", "none"])),
    disabled_until=st.one_of(st.none(), st.sampled_from([EARLIER, LATER])),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Post, Audience, Rules]:
    members = draw(st.lists(user_ids, max_size=12))
    post = Post(
        sender_id=draw(user_ids),
        mentioned=draw(st.lists(user_ids, max_size=4)),
        parent_id=draw(st.one_of(st.none(), st.just("parent"))),
        skip_push=draw(st.booleans()),
    )
    audience = Audience(
        members=members,
        push_enabled=draw(st.booleans()),
        channel_preference=draw(preference),
        member_preferences=draw(st.dictionaries(user_ids, preference, max_size=6)),
        user_preferences=draw(st.dictionaries(user_ids, preference, max_size=6)),
        channel_mutes=draw(st.dictionaries(user_ids, expiry, max_size=4)),
        sender_muted_by=draw(st.dictionaries(user_ids, expiry, max_size=4)),
        thread_participants=frozenset(draw(st.lists(user_ids, max_size=6))),
        online_until=draw(st.dictionaries(user_ids, st.sampled_from([EARLIER, LATER]))),
    )
    rules = Rules(skip_online=draw(st.booleans()), max_recipients=draw(st.integers(0, 12)))
    return post, audience, rules


def muted(mutes: dict[str, float | None], user: str) -> bool:
    return user in mutes and (mutes[user] is None or mutes[user] > NOW)  # type: ignore[operator]


def violated(post: Post, a: Audience, rules: Rules, user: str) -> list[str]:
    """Every rule (other than the cap) that excludes this member, each checked on its own."""
    pref = resolve(
        a.member_preferences.get(user, PushPreference()),
        a.user_preferences.get(user, PushPreference()),
        a.channel_preference,
    )
    checks = {
        r.SENDER: user == post.sender_id,
        r.SKIP_PUSH: post.skip_push,
        r.CHANNEL_PUSH_DISABLED: not a.push_enabled,
        r.NOT_THREAD_PARTICIPANT: post.parent_id is not None
        and user not in a.thread_participants
        and user not in post.mentioned,
        r.SENDER_MUTED: muted(dict(a.sender_muted_by), user),
        r.CHANNEL_MUTED: muted(dict(a.channel_mutes), user),
        r.PREFERENCE_NONE: pref.level == "none",
        r.PREFERENCE_MENTIONS: pref.level == "mentions" and user not in post.mentioned,
        r.SNOOZED: pref.disabled_until is not None and pref.disabled_until > NOW,
        r.ONLINE: rules.skip_online and a.online_until.get(user, 0) > NOW,
    }
    return [reason for reason in r.REASONS if checks.get(reason)]


@settings(max_examples=400)
@given(scenarios())
def test_every_member_is_decided_once_by_the_first_rule_that_excludes_them(
    scenario: tuple[Post, Audience, Rules],
) -> None:
    post, audience, rules = scenario
    got = select(post, audience, rules, NOW)
    decided = got.recipients + [s.user_id for s in got.skipped if s.reason != r.NOT_MEMBER]
    assert sorted(decided) == sorted(set(audience.members))
    skip = reasons(got)
    for user in set(audience.members):
        excluded_by = violated(post, audience, rules, user)
        if excluded_by:
            assert skip[user] == excluded_by[0]
        else:
            assert user in got.recipients or skip[user] == r.RECIPIENT_CAP
    assert {s.user_id for s in got.skipped if s.reason == r.NOT_MEMBER} == set(
        post.mentioned
    ) - set(audience.members)


@settings(max_examples=300)
@given(scenarios())
def test_cap_keeps_mentioned_first_and_member_order(scenario: tuple[Post, Audience, Rules]) -> None:
    post, audience, rules = scenario
    uncapped = select(post, audience, Rules(rules.skip_online, max_recipients=10_000), NOW)
    got = select(post, audience, rules, NOW)
    assert got.recipients == uncapped.recipients[: rules.max_recipients]
    mentioned = [u for u in uncapped.recipients if u in post.mentioned]
    assert uncapped.recipients[: len(mentioned)] == mentioned
    others = [u for u in uncapped.recipients if u not in post.mentioned]
    assert others == [u for u in dict.fromkeys(audience.members) if u in set(others)]


@given(scenarios(), user_ids)
def test_a_new_mute_never_adds_recipients(scenario: tuple[Post, Audience, Rules], who: str) -> None:
    post, audience, rules = scenario
    rules = Rules(rules.skip_online, max_recipients=10_000)
    before = set(select(post, audience, rules, NOW).recipients)
    audience.channel_mutes = {**audience.channel_mutes, who: None}
    after = set(select(post, audience, rules, NOW).recipients)
    assert after == before - {who}


@given(scenarios())
def test_ignoring_presence_only_adds_recipients(scenario: tuple[Post, Audience, Rules]) -> None:
    post, audience, _ = scenario
    skipping = set(select(post, audience, Rules(True, 10_000), NOW).recipients)
    delivering = set(select(post, audience, Rules(False, 10_000), NOW).recipients)
    assert skipping <= delivering
    assert all(audience.online_until.get(u, 0) > NOW for u in delivering - skipping)
