"""Coordinated amplification (`coordinated_groups`): distinct accounts posting the same text or link
within a short window, on real stores the real `import` fills (analytics.conversation.coordinated)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import run_in_process

from analytics.conversation.coordinated import update_coordinated
from analytics.conversation.roles import update_roles
from listener.core.settings import Settings, load_settings
from listener.store.connection import Store

CONFIG = """
[organization]
name = "Acme"
query = "acme"
[organization.own_accounts]
x = ["acme"]
[[organization.competitors]]
name = "Globex"
query = "globex"
own_accounts = {{ x = ["globex"] }}
[store]
path = "store.duckdb"
[analytics]
detect_language = false
{extra}
"""
T0 = datetime(2026, 9, 7, 9, tzinfo=UTC)
VOCABULARY = (
    "acme coffee beans roast grinder espresso latte morning price delivery service barista cup crema "
    "milk foam decaf refund support app update launch review brew kettle filter pour over bag shop "
    "store city friend weekend holiday train office desk laptop music podcast radio news story "
    "release flavour aroma bitter sweet sour smooth strong mild fresh stale hot cold iced tall"
).split()
ROW_SQL = "SELECT group_id, author_id, mention_id, first_at, last_at, kind FROM coordinated_groups ORDER BY ALL"


def post(i: str, text: str, at: datetime, author: str | None = None, **extra: Any) -> dict[str, Any]:
    author = author or f"u{i}"
    return {
        "source": extra.pop("source", "x"),
        "id": i,
        "created_at": at.isoformat(),
        "author": {"id": author, "handle": author},
        "text": text,
        "lang": "en",
        **extra,
    }


def import_docs(config: Path, capsys: pytest.CaptureFixture[str], docs: list[dict[str, Any]], name: str) -> None:
    path = config.parent / name
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    code, _, err = run_in_process(capsys, "--config", str(config), "import", str(path))
    assert code == 0, err


@contextmanager
def store_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], docs: list[dict[str, Any]], extra: str = ""
) -> Iterator[tuple[Store, Settings]]:
    """Import `docs` with the real CLI, then the store open with roles computed (what `analyze` does first)."""
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG.format(extra=extra), encoding="utf-8")
    import_docs(config, capsys, docs, "m.jsonl")
    settings = load_settings(config)
    with Store(tmp_path / "store.duckdb") as store:
        update_roles(store, settings)
        yield store, settings


def with_analytics(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"analytics": settings.analytics.model_copy(update=changes)})


def groups(store: Store) -> dict[str, set[str]]:
    """group_id -> its mention ids."""
    found: dict[str, set[str]] = {}
    for group_id, mention_id in store.conn.execute("SELECT group_id, mention_id FROM coordinated_groups").fetchall():
        found.setdefault(group_id, set()).add(mention_id)
    return found


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(["acme", *rng.sample(VOCABULARY, words - 1)])


def _text_variant(rng: random.Random, text: str) -> str:
    """The same text as a copier pastes it: other case, a link of its own, hashtags, spaces."""
    kind = rng.choice(["same", "upper", "title", "link", "tags", "spaces"])
    if kind == "upper":
        return text.upper()
    if kind == "title":
        return text.title()
    if kind == "link":
        return f"{text} https://t.co/{rng.randrange(10**9)}"
    if kind == "tags":
        return f"{text} #acme #coffee"
    if kind == "spaces":
        return "  " + text.replace(" ", "   ") + "\n"
    return text


def _link_variant(rng: random.Random, n: int) -> str:
    """One link, written as each account of a ring writes it."""
    return rng.choice(
        [
            f"https://deals.example.com/offer/{n}?ref=ring",
            f"https://deals.example.com/offer/{n}?ref=ring&utm_source=x&utm_medium=social",
            f"https://deals.example.com/offer/{n}?utm_campaign=spring&ref=ring",
            f"HTTPS://Deals.Example.COM/offer/{n}?ref=ring#buy",
            f"(https://deals.example.com/offer/{n}?ref=ring).",
            f"https://deals.example.com/offer/{n}?ref=ring!",
        ]
    )


@dataclass
class Corpus:
    docs: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, set[str]] = field(default_factory=dict)  # planted group_id -> mention ids
    slow_ring: set[str] = field(default_factory=set)  # one text every 150 s by 4 accounts
    three_ring: str = ""  # the group_id of a ring of exactly 3 accounts

    def add(self, i: str, text: str, at: datetime, author: str, **extra: Any) -> str:
        self.docs.append(post(i, text, at, author=author, **extra))
        return f"x:{i}"


def planted(seed: int = 7) -> Corpus:
    """Rings posting one text or one link within a minute, and the hard negatives around them."""
    rng = random.Random(seed)
    corpus = Corpus()
    pool = [f"bot{n}" for n in range(40)]  # rings reuse accounts, as real ones do
    slot = iter(range(1000))

    def start() -> datetime:  # every scenario in an hour of its own
        return T0 + timedelta(hours=next(slot), seconds=rng.randint(0, 3000))

    def ring(kind: str, r: int, size: int) -> str:
        at = start()
        accounts = rng.sample(pool, size)
        text = _sentence(rng, rng.randint(8, 20))
        members = []
        for j, account in enumerate(accounts):
            when = at + timedelta(seconds=0 if j == 0 else rng.uniform(0.5, 59.5))
            body = _text_variant(rng, text) if kind == "text" else f"{_sentence(rng, 10)} {_link_variant(rng, r)}"
            members.append(corpus.add(f"{kind}{r}m{j}", body, when, account))
        if r % 3 == 0:  # an account of the ring posting it again within the window: a row, not an account
            again = at + timedelta(seconds=rng.uniform(1, 59))
            body = text if kind == "text" else f"again {_sentence(rng, 6)} {_link_variant(rng, r)}"
            members.append(corpus.add(f"{kind}{r}again", body, again, accounts[0]))
        if kind == "text" and r % 2 == 0:  # one more account, 75 s after the first: not in the group
            corpus.add(f"{kind}{r}late", text, at + timedelta(seconds=75), "latecomer")
        group_id = f"coord:{kind}:{members[0]}"
        corpus.truth[group_id] = set(members)
        return group_id

    sizes = [3, 4, 5, 8] + [rng.randint(3, 8) for _ in range(6)]
    for r, size in enumerate(sizes):
        group_id = ring("text", r, size)
        if size == 3 and not corpus.three_ring:
            corpus.three_ring = group_id
    for r, size in enumerate([3, 6, 8] + [rng.randint(3, 8) for _ in range(4)]):
        ring("link", r, size)

    # An X ring: every post a different t.co link, all to one page (raw.entities says which)
    at = start()
    members = []
    for j in range(4):
        short = f"https://t.co/s{j}x{rng.randrange(10**6)}"
        page = "https://shop.example.net/sale?utm_source=twitter&utm_campaign=" + str(j)
        raw = {"entities": {"urls": [{"url": short, "expanded_url": page}]}}
        when = at + timedelta(seconds=j * 12)
        members.append(corpus.add(f"tco{j}", f"{_sentence(rng, 9)} {short}", when, f"tco_acct{j}", raw=raw))
    corpus.truth[f"coord:link:{members[0]}"] = set(members)

    # -- hard negatives -------------------------------------------------------------------
    for n in range(5):  # the same text by two accounts only
        at, text = start(), _sentence(rng, 12)
        for j in range(2):
            corpus.add(f"pair{n}m{j}", _text_variant(rng, text), at + timedelta(seconds=j * 5), f"pair{n}a{j}")
    for n in range(2):  # the same text by many, spread over hours
        at, text = start(), _sentence(rng, 14)
        for j in range(12):
            at += timedelta(minutes=rng.randint(5, 30))
            corpus.add(f"spread{n}m{j}", text, at, f"spread{n}a{j}")
    for n in range(3):  # one account posting the same text 5 times
        at, text = start(), _sentence(rng, 10)
        for j in range(5):
            corpus.add(f"solo{n}m{j}", text, at + timedelta(seconds=j * 6), f"solo{n}")
    at = start()
    for n, short in enumerate(["lol", "+1", "so true", "this 👇 #acme"]):  # floods of short answers
        for j in range(10):
            corpus.add(f"short{n}m{j}", short, at + timedelta(seconds=j * 3), f"fan{j}")
    at = start()
    for j in range(30):  # a popular moment: many accounts in one minute, each in their own words
        text = f"{_sentence(rng, rng.randint(6, 18))} https://t.co/o{j}"
        corpus.add(f"organic{j}", text, at + timedelta(seconds=j * 2), f"fan{j}")
    at = start()
    original = corpus.add("viral", "Acme cold brew is back, get it here https://acme.example/coldbrew", at, "barista")
    ring_reposts = [
        corpus.add(  # a retweet ring: 10 accounts reposting one post within a minute (a repost group,
            f"rt{j}",  # not a text or link group: a repost carries the original's text and link)
            "RT @barista: Acme cold brew is back, get it here https://acme.example/coldbrew",
            at + timedelta(seconds=5 + j * 5),
            f"fan{j}",
            repost_of=original.removeprefix("x:"),
        )
        for j in range(10)
    ]
    corpus.truth[f"coord:repost:{ring_reposts[0]}"] = set(ring_reposts)
    at = start()
    popular = corpus.add("popular", "Acme opens a roastery in Lyon next spring", at, "newsdesk")
    for j in range(40):  # reposted all day long, one every ~20 minutes: no burst, no ring
        corpus.add(
            f"share{j}",
            "RT @newsdesk: Acme opens a roastery in Lyon next spring",
            at + timedelta(minutes=5 + 20 * j, seconds=rng.uniform(0, 50)),
            f"reader{j}",
            repost_of=popular.removeprefix("x:"),
        )
    at, text = start(), _sentence(rng, 12)
    for j, account in enumerate(["acme", "globex", "other1", "other2"]):  # own and competitor's posts are not by others
        corpus.add(f"owned{j}", text, at + timedelta(seconds=j * 10), account)
    at, text = start(), _sentence(rng, 12)
    for j, account in enumerate(["unknown", "unknown", "unknown", "real1", "real2"]):  # placeholders are nobody
        corpus.add(f"anon{j}", text, at + timedelta(seconds=j * 4), account)
    for n in range(3):  # the same link by two accounts only
        at = start()
        for j in range(2):
            corpus.add(f"lpair{n}m{j}", f"{_sentence(rng, 8)} https://pair.example/{n}", at, f"lpair{n}a{j}")
    at = start()
    for j in range(15):  # a popular link over hours
        at += timedelta(minutes=rng.randint(3, 20))
        corpus.add(f"lspread{j}", f"{_sentence(rng, 8)} https://acme.example/menu", at, f"lspread{j}")
    at, text = start(), _sentence(rng, 12)
    for j in range(4):  # a slower ring: one post every 150 s
        corpus.slow_ring.add(corpus.add(f"slow{j}", text, at + timedelta(seconds=150 * j), f"slow{j}"))
    return corpus


def precision_recall(found: set[Any], expected: set[Any]) -> tuple[float, float]:
    hits = len(found & expected)
    return hits / max(len(found), 1), hits / max(len(expected), 1)


def test_planted_rings_are_found_with_high_precision_and_recall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = planted()
    with store_of(tmp_path, capsys, corpus.docs) as (store, settings):
        report = update_coordinated(store, settings)
        found_groups = groups(store)
        rows = store.conn.execute(ROW_SQL).fetchall()
        leftovers = store.conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name LIKE 'coord_%'"
        ).fetchone()
    found = {(g, m) for g, ms in found_groups.items() for m in ms}
    expected = {(g, m) for g, ms in corpus.truth.items() for m in ms}
    precision, recall = precision_recall(found, expected)
    flagged = {m for _, m in found}
    planted_mentions = {m for _, m in expected}
    mention_precision, mention_recall = precision_recall(flagged, planted_mentions)
    print(
        f"\ncoordinated groups on {len(corpus.docs)} planted posts, {len(corpus.truth)} rings: "
        f"(group, mention) precision {precision:.3f}, recall {recall:.3f}; "
        f"mentions flagged precision {mention_precision:.3f}, recall {mention_recall:.3f}"
    )
    assert precision >= 0.95 and recall >= 0.95
    assert mention_precision >= 0.95 and mention_recall >= 0.95
    assert found_groups == corpus.truth  # on this corpus, every ring exactly and nothing else
    assert report["groups"] == len(corpus.truth)
    assert report["text_groups"] + report["link_groups"] + report["repost_groups"] == report["groups"]
    assert report["text_groups"] == sum(g.startswith("coord:text:") for g in corpus.truth)
    assert report["mentions"] == len(planted_mentions)
    assert report["accounts"] == len({a for _, a, *_ in rows})
    assert set(report) >= {"groups", "accounts", "mentions", "text_groups", "link_groups", "seconds", "method"}
    assert leftovers == (0,)
    # first_at / last_at: the group's first and last post, on each of its rows
    times = {d["id"]: datetime.fromisoformat(d["created_at"]) for d in corpus.docs}
    for group_id, _, _, first_at, last_at, kind in rows:
        members = [times[m.removeprefix("x:")] for m in found_groups[group_id]]
        assert (first_at, last_at) == (min(members), max(members))
        assert first_at == times[group_id.split(":", 2)[2].removeprefix("x:")]
        assert timedelta(0) <= last_at - first_at <= timedelta(seconds=60)
        assert group_id.startswith(f"coord:{kind}:")


def test_groups_are_anchored_at_their_first_post(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = "Acme's new grinder broke after a week, do not buy it"
    edge = "Acme support never answered my refund request, avoid"
    docs = [
        *[post(f"c{s}", chain, T0 + timedelta(seconds=s)) for s in (0, 30, 55, 65, 90, 118, 130)],
        # exactly 60 s after the first post is within the window; a millisecond more is not
        *[post(f"e{s}", edge, T0 + timedelta(hours=1, seconds=s)) for s in (0, 20, 60)],
        *[post(f"f{s}", edge, T0 + timedelta(hours=2, seconds=s)) for s in (0, 20, 60.001)],
    ]
    with store_of(tmp_path, capsys, docs) as (store, settings):
        update_coordinated(store, settings)
        assert groups(store) == {
            "coord:text:x:c0": {"x:c0", "x:c30", "x:c55"},  # 65 is past the window of 0: a new group
            "coord:text:x:c65": {"x:c65", "x:c90", "x:c118"},  # 130 is alone in a group of its own
            "coord:text:x:e0": {"x:e0", "x:e20", "x:e60"},
        }


def test_links_are_normalised_and_one_post_can_start_two_link_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = T0
    variants = [
        "HTTPS://Shop.Example.COM/Deal?id=7&utm_source=x",
        "(https://shop.example.com/Deal?utm_medium=social&id=7).",
        "https://shop.example.com/Deal?id=7#top",
    ]
    docs = [
        post(f"v{j}", f"{_sentence(random.Random(j), 7)} {u}", at + timedelta(seconds=j))
        for j, u in enumerate(variants)
    ]
    # the path keeps its case: /deal is another page
    docs += [
        post(f"p{j}", f"have a look https://shop.example.com/deal?id=7 {j}", at + timedelta(seconds=j))
        for j in range(2)
    ]
    # one post with two links, each shared by two other accounts: two groups starting at the same post
    later = at + timedelta(hours=1)
    docs.append(post("both", "two offers https://a.example/one and https://b.example/two", later))
    docs += [
        post(f"a{j}", f"first offer https://a.example/one #{j}", later + timedelta(seconds=1 + j)) for j in range(2)
    ]
    docs += [
        post(f"b{j}", f"second offer https://b.example/two #{j}", later + timedelta(seconds=5 + j)) for j in range(2)
    ]
    # a ring pasting one text with two links: one text group and one link group, not two
    ring = "Acme is giving away free coffee today https://c.example/x https://d.example/y"
    docs += [post(f"r{j}", ring, at + timedelta(hours=2, seconds=j * 10)) for j in range(3)]
    with store_of(tmp_path, capsys, docs) as (store, settings):
        update_coordinated(store, settings)
        assert groups(store) == {
            "coord:link:x:v0": {"x:v0", "x:v1", "x:v2"},
            "coord:link:x:both": {"x:both", "x:a0", "x:a1"},
            "coord:link:x:both~2": {"x:both", "x:b0", "x:b1"},
            "coord:text:x:r0": {"x:r0", "x:r1", "x:r2"},
            "coord:link:x:r0": {"x:r0", "x:r1", "x:r2"},
        }


def test_settings_change_the_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = planted()
    with store_of(tmp_path, capsys, corpus.docs) as (store, settings):
        update_coordinated(store, settings)
        default = groups(store)
        assert corpus.three_ring in default
        assert not corpus.slow_ring & {m for ms in default.values() for m in ms}

        update_coordinated(store, with_analytics(settings, coordination_window_seconds=600))
        slow = groups(store)
        assert corpus.slow_ring in slow.values()  # 450 s from first to last: one group at 600 s
        assert len(slow) > len(default)

        update_coordinated(store, with_analytics(settings, coordination_min_accounts=5))
        five = groups(store)
        assert corpus.three_ring not in five
        assert set(five) < set(default)
        fewest = store.conn.execute(
            "SELECT min(n) FROM (SELECT count(DISTINCT author_id) AS n FROM coordinated_groups GROUP BY group_id)"
        ).fetchone()
        assert fewest is not None and fewest[0] >= 5


def test_a_rerun_without_changes_skips_and_a_new_post_recomputes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "Acme baristas are the best in the whole city, go now"
    docs = [post(f"k{j}", text, T0 + timedelta(seconds=j * 10)) for j in range(3)]
    with store_of(tmp_path, capsys, docs) as (store, settings):
        first = update_coordinated(store, settings)
        before = store.conn.execute(ROW_SQL).fetchall()
        again = update_coordinated(store, settings)
        assert first["groups"] == 1 and "skipped" not in first
        assert again["skipped"] is True
        assert store.conn.execute(ROW_SQL).fetchall() == before
    import_docs(
        tmp_path / "listener.toml", capsys, [post("k3", text.upper(), T0 + timedelta(seconds=45))], "more.jsonl"
    )
    with Store(tmp_path / "store.duckdb") as store:
        update_roles(store, settings)
        third = update_coordinated(store, settings)
        assert "skipped" not in third
        assert groups(store) == {"coord:text:x:k0": {"x:k0", "x:k1", "x:k2", "x:k3"}}
        assert store.conn.execute("SELECT DISTINCT first_at, last_at FROM coordinated_groups").fetchall() == [
            (T0, T0 + timedelta(seconds=45))
        ]


def test_a_text_needs_four_words_or_four_chinese_or_japanese_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = {"short": "so true!!! 💯", "four": "so very true indeed", "han": "我们爱这家咖啡店", "kana": "すごい"}
    docs = [
        post(f"{name}{j}", text, T0 + timedelta(hours=h, seconds=j * 7))
        for h, (name, text) in enumerate(texts.items())
        for j in range(3)
    ]
    with store_of(tmp_path, capsys, docs) as (store, settings):
        update_coordinated(store, settings)
        assert set(groups(store)) == {"coord:text:x:four0", "coord:text:x:han0"}


def test_a_link_everyone_shares_all_day_is_no_campaign_but_a_burst_on_top_of_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The home page shared by 400 people over a day (one every 3.6 minutes on average, at random
    times) meets "3 accounts within 60 s" by chance; only a ring that stands out from that traffic
    is a group."""
    rng = random.Random(5)
    home = "https://acme.example.com/"
    docs = [
        post(f"h{n}", f"{_sentence(rng, 8)} {home}", T0 + timedelta(seconds=rng.uniform(0, 86_400))) for n in range(400)
    ]
    quiet = T0 + timedelta(days=2)  # a ring pushing another page, where nobody else links to it
    docs += [post(f"r{n}", f"{_sentence(rng, 8)} https://acme.example.com/deal", quiet + timedelta(seconds=5 * n))
             for n in range(4)]  # fmt: skip
    with store_of(tmp_path, capsys, docs) as (store, settings):
        update_coordinated(store, settings)
        assert groups(store) == {"coord:link:x:r0": {"x:r0", "x:r1", "x:r2", "x:r3"}}


def test_analyze_raises_a_coordinated_alert_dampens_the_ring_and_the_digest_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the real commands: the ring's alert (kind `coordinated`) survives the spike step,
    its accounts' influence is halved, and the weekly digest names the group (escaped)."""
    rng = random.Random(9)
    ring = "Acme grinders are the best deal this week, go get one now"
    docs = [post(f"r{n}", ring, T0 + timedelta(seconds=7 * n), author=f"ring<{n}>") for n in range(5)]
    docs += [post(f"p{n}", _sentence(rng, 9), T0 + timedelta(hours=n)) for n in range(20)]
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG.format(extra=""), encoding="utf-8")
    import_docs(config, capsys, docs, "m.jsonl")
    code, _, err = run_in_process(capsys, "--config", str(config), "analyze", "--as-of", "2026-09-13")
    assert code == 0, err
    with Store(tmp_path / "store.duckdb", read_only=True) as store:
        alerts = store.conn.execute(
            "SELECT alert_id, observed, score, json_array_length(mention_ids) FROM alerts WHERE kind = 'coordinated'"
        ).fetchall()
        assert alerts == [("coordinated:Acme:2026-09-07", 5.0, 1.0, 5)]
        damped = dict(
            store.conn.execute(
                "SELECT author_id, CAST(components->>'coordinated' AS BOOLEAN) FROM influencers "
                "WHERE period_kind = 'week' AND scope = 'all'"
            ).fetchall()
        )
        assert damped and all(damped[a] == a.startswith("x:ring") for a in damped)
    code, out, err = run_in_process(capsys, "--config", str(config), "digest", "--week", "2026-W37", "--json")
    assert code == 0, err
    digest = json.loads(out)
    assert (
        "1 coordinated-amplification group; the largest: 5 accounts posted the same text within 28 s"
        in (digest["text"])
    )
    code, out, err = run_in_process(
        capsys, "--config", str(config), "digest", "--week", "2026-W37", "--out", str(tmp_path / "review"), "--json"
    )
    assert code == 0, err
    html = next(Path(f) for f in json.loads(out)["files"] if f.endswith(".html")).read_text(encoding="utf-8")
    assert "Coordinated amplification" in html and "ring&lt;0&gt;" in html and "ring<0>" not in html


def test_a_ring_reposting_our_own_post_is_a_group_though_not_the_conversation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = post("own1", "Acme cold brew is back for the winter", T0, author="acme")
    ring = [
        post(f"rt{n}", "RT @acme: Acme cold brew is back for the winter", T0 + timedelta(seconds=3 * n + 1),
             author=f"bot{n}", repost_of="own1", referenced_authors={"own1": "acme"})
        for n in range(4)
    ]  # fmt: skip
    with store_of(tmp_path, capsys, [own, *ring]) as (store, settings):
        update_coordinated(store, settings)
        assert groups(store) == {"coord:repost:x:rt0": {"x:rt0", "x:rt1", "x:rt2", "x:rt3"}}
        roles = store.conn.execute("SELECT DISTINCT role FROM mention_roles WHERE mention_id LIKE 'x:rt%'").fetchall()
        assert roles == [("own_amplification",)]  # still left out of the mentions by others
