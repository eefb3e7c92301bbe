"""Benchmark: `tag_mentions` with 20 topic queries over every mention, against DuckDB alone.

    nice python bench/bench_tagging.py                # 1,000,000 mentions
    nice python bench/bench_tagging.py --n 100000 --keep

Generates N mentions in SQL (over range(N), no Python per row) straight into the
`mentions` table of a fresh store: texts of 16-37 words (about 100-250 characters)
from per-language vocabularies (en, fr, de, es, ja; accents, kana), brand phrases,
punctuation, capitals, hashtags, @-replies, titles on reddit/rss/youtube posts, URLs
on several hosts, and the `interactions` rows (kind 'mention') a loader would write for
the @-handles. Then it configures 20 topics (brand, 3 competitors, 16 tracked topics)
whose queries use phrases, `*` and `?` wildcards, NEAR/n, NEAR/nf, NOT, {Cased} terms,
#hashtags, @mentions and the title:, lang:, source: and site: fields, warms up on 1,000
mentions, and times `tag_mentions(conn, rules)` over all N in one write transaction.

Anchor, same run, same table: DuckDB alone normalising every title and text into words
once (lower + regexp_replace into a temp table, i.e. one `w` column), and one regexp scan.
Then a breakdown of where tagging spends its time: the `tag_input` columns (each alone, then
built into a temp table), each topic's condition alone over that table (with its hits), all
conditions in one pass over it, and tag_mentions' one statement, which computes the columns
as it reads each row (--no-breakdown skips it). Wall and CPU seconds: the machine is shared, CPU time is the steadier one.
Goal (topic query language issue): >= 200,000 mentions/s at 1M with 20 topics. Prints
peak RSS (getrusage: the whole process, generation included; the breakdown's temp tables
raise it further). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from listener.core.matcher import share_tests, tag_input_sql  # noqa: E402
from listener.core.settings import settings_from_dict  # noqa: E402
from listener.ingest.topics import TopicRule, rules_from_organization, tag_mentions, tagging_sql  # noqa: E402
from listener.store.connection import Store  # noqa: E402

GOAL = 200_000  # mentions/s

# -- the organisation: 20 topics -----------------------------------------------------------

ORGANIZATION: dict[str, Any] = {
    "name": "Acme",
    "query": '(acme OR #acme* OR @acme OR "acme coffee") NOT "acme anvil"',
    "competitors": [
        {"name": "Globex", "query": "globex OR #globex OR @globexcoffee"},
        {"name": "Initech", "query": "({Initech} OR initech*) NOT initechnology"},
        {"name": "Umbrella", "query": '"umbrella corp*" OR {UMBRELLA} OR site:umbrella.com'},
    ],
    "topics": [
        {"name": "cold brew", "query": '"cold brew" OR coldbrew OR #coldbrew'},
        {"name": "recall", "query": 'acme NEAR/5 (recall* OR lawsuit OR "class action")'},
        {"name": "delivery", "query": "(delivery OR shipping OR parcel) NEAR/3 (late OR lost OR delay*)"},
        {"name": "refunds", "query": "refund* NEAR/4f (never OR still OR denied)"},
        {"name": "support", "query": '"customer service" OR "customer support" OR @acme_support'},
        {"name": "grinders", "query": 'gr?nder* OR "burr mill" NOT initech'},
        {"name": "milk", "query": '"oat milk" OR oatmilk OR (oat NEAR/2 lat*e)'},
        {"name": "sustainability", "query": 'sustainab* OR "fair trade" OR compost* OR #zerowaste'},
        {"name": "pricing", "query": "(price* OR expensive OR overpriced) NEAR/3 acme"},
        {"name": "summer launch", "query": '#AcmeSummer OR "summer blend" OR title:launch*'},
        {"name": "reddit espresso", "query": "source:reddit (espresso OR crema OR portafilter)"},
        {"name": "france", "query": "lang:fr (café OR acme OR livraison)"},
        {"name": "germany", "query": "lang:de (kaffee OR lieferung OR süß*) NOT werbung"},
        {"name": "press", "query": "(site:coffeeweekly.com OR site:news.example.com) (acme OR globex)"},
        {"name": "app outage", "query": '{AcmeApp} OR ("acme app" NEAR/4 (crash* OR outage OR "won\'t load"))'},
        {"name": "influencers", "query": "@baristabob OR @coffeequeen OR @brewmaster_jp OR title:{Barista Bob}"},
    ],
}

# -- the texts ------------------------------------------------------------------------------

WORDS = {
    "en": """the a and to of i it is was my this that for in on with but so just not they you we have
        had got get coffee cup beans morning today really very great good bad love hate tried new old
        again never still always store order ordered app bag price box week day taste tasted flavour
        roast dark light medium bitter smooth sweet strong weak fresh stale burnt hot cold iced brew
        espresso latte mug machine pods filter water milk sugar barista cafe shop line wait waited
        minutes friend work office home kitchen counter weekend breakfast cake donut croissant
        delivery shipping parcel late lost arrived refund support email reply called phone asked
        umbrella rain recall review honestly literally pretty actually maybe probably
        anyone else does know think feel looks smells works worked broke broken quality size small
        large price service staff nice rude friendly quick slow better worse best worst ever
        subscription monthly plan cancel cancelled account login update version button screen
        recipe tip trick hack foam crema pour over french press aeropress kettle scale gram ratio""".split(),
    "fr": """le la les un une et de du des pour avec mais pas très bon mauvais café tasse grains matin
        aujourd'hui livraison commande colis reçu remboursement service client goût amer doux fort
        torréfaction crème lait sucre boutique semaine été hiver prix cher déçu génial délicieux
        machine expresso ça où déjà""".split(),
    "de": """der die das ein eine und von mit aber nicht sehr gut schlecht kaffee tasse bohnen morgen
        heute lieferung bestellung paket erstattung kundendienst geschmack bitter süß stark frisch
        röstung milch zucker laden woche preis teuer günstig enttäuscht lecker maschine größe straße
        werbung schön""".split(),
    "es": """el la los las un una y de del para con pero no muy bueno malo café taza granos mañana hoy
        envío pedido paquete reembolso servicio sabor amargo dulce fuerte tostado leche azúcar
        tienda semana precio caro barato decepcionado delicioso máquina también niño""".split(),
    "ja": "アクメ の コーヒー は 美味しい けど 配送 が 遅い 豆 朝 今日 カフェ ラテ 値段 高い 新しい 店 注文 届いた".split(),
}
SEPARATORS = [" "] * 14 + [", ", ". ", "! ", "? ", " - ", "... ", ": ", " :) ", " ☕ ", "!! "]
# phrases dropped into a text (0-2 per text, each in roughly 1% of texts): what the topics look for,
# and near misses that they must not count
SNIPPETS = """acme|Acme coffee|ACME|acme's new roast|the Acme anvil gag|acme coffee is back|@acme|#AcmeCoffee|
    Acme issued a recall|recall of acme bottles|acme faces a class action|acme price went up|acme is so expensive|
    overpriced acme pods|Globex pods|switched to Globex|globex|@globexcoffee|#globex|
    Initech grinder|initech's new app|INITECH|initechnology conference|
    Umbrella Corp|umbrella corporation beans|UMBRELLA|my umbrella broke|
    cold brew|Cold-brew|coldbrew|#ColdBrew|cold and brewed|
    delivery was late|my parcel got lost|shipping delayed again|late delivery|
    refund never arrived|refund request denied|still no refund|refunds are still pending|
    customer service|customer support was great|@acme_support|support agent|
    new grinder|the grinders|burr mill|grander plans|
    oat milk|oatmilk|oat latte|oat flat white|
    sustainable packaging|fair trade|compostable pods|#zerowaste|
    summer blend|#AcmeSummer|summer vacation|
    acme app keeps crashing|AcmeApp|acme app outage|the acme app won't load|
    @baristabob|@coffeequeen|@brewmaster_jp|barista bob|
    crema|portafilter|espresso shot|
    café crème|süße kaffee|kaffee lieferung|werbung""".replace("\n", "").split("|")
SNIPPETS = [s.strip() for s in SNIPPETS if s.strip()]
HASHTAGS = "#coffee #coffeetime #coffee #acme #AcmeCoffee #ColdBrew #globex #zerowaste #coffeelover #AcmeSummer #mondays #latteart #café #barista".split()
HANDLES = (
    "@acme @acme_support @globexcoffee @baristabob @coffeequeen @brewmaster_jp @jane_doe @mike88 @news_bot".split()
)
TITLES = [
    "Acme launches summer blend",
    "Review: Initech grinder after a month",
    "Barista Bob tries Acme cold brew",
    "Is Globex better than Acme?",
    "Weekly coffee thread",
    "Help with my espresso machine",
    "Acme launching a new app",
    "Coffee prices in 2026",
    "Fair trade beans: worth it?",
    "Umbrella Corp enters coffee",
    "What grinder should I buy",
    "Café news from Paris",
]
# (source, weight, title share, hosts, communities)
SOURCES: list[tuple[str, int, int, list[str | None], list[str | None]]] = [
    ("x", 55, 0, ["x.com"], [None]),
    ("reddit", 15, 6, ["www.reddit.com"], ["r/espresso", "r/Coffee", "r/BuyItForLife"]),
    ("mastodon", 10, 0, ["mastodon.social", "fosstodon.org"], [None]),
    ("rss", 12, 7, ["news.example.com", "coffeeweekly.com", "blog.umbrella.com", "dailybrew.net"], [None]),
    ("youtube", 8, 4, ["www.youtube.com"], [None]),
]
LANGS = ["en"] * 70 + ["fr"] * 8 + ["de"] * 7 + ["es"] * 6 + ["ja"] * 4 + [None] * 5


def _list(values: Sequence[str | None]) -> str:
    items = ", ".join("NULL" if v is None else "'" + v.replace("'", "''") + "'" for v in values)
    return f"[{items}]::VARCHAR[]"


def _pick(values: str, *key: object) -> str:
    """SQL: a deterministic pick from list `values` for hash(i, *key)."""
    args = ", ".join(str(k) for k in key)
    return f"{values}[1 + (hash(i, {args}) % len({values}))::BIGINT]"


def generate(conn: Any, n: int) -> None:
    sources = [s for s, weight, *_ in SOURCES for _ in range(weight)]
    words_by_lang = " ".join(f"WHEN '{lang}' THEN {_list(words)}" for lang, words in WORDS.items() if lang != "en")
    titled = " ".join(f"WHEN '{s}' THEN {share}" for s, _, share, *_ in SOURCES)
    hosts = " ".join(f"WHEN '{s}' THEN {_list(h)}" for s, _, _, h, _ in SOURCES)
    communities = " ".join(f"WHEN '{s}' THEN {_list(c)}" for s, *_, c in SOURCES)
    # range() is read by one thread: materialise the ids first, so the texts are built on all cores
    conn.execute(f"CREATE TEMP TABLE ids AS SELECT range AS i FROM range({n})")
    conn.execute(f"""
        CREATE TEMP TABLE gen AS
        WITH v AS (
            SELECT {_list(sources)} AS sources, {_list(LANGS)} AS langs, {_list(SEPARATORS)} AS seps,
                   {_list(SNIPPETS)} AS snippets, {_list(HASHTAGS)} AS hashtags, {_list(HANDLES)} AS handles,
                   {_list(TITLES)} AS titles, {_list(WORDS["en"])} AS en
        ),
        base AS (
            SELECT i, v.*, {_pick("v.sources", 1)} AS source, {_pick("v.langs", 2)} AS lang,
                   (16 + hash(i, 3) % 22)::BIGINT AS n_words,
                   hash(i, 4) % 100 AS p_snip, hash(i, 5) % 100 AS p_tag, hash(i, 6) % 100 AS p_handle,
                   hash(i, 7) % 10 AS p_title
            FROM ids, v
        ),
        vocab AS (
            SELECT *, CASE lang {words_by_lang} ELSE en END AS words,
                   CASE WHEN p_snip < 60 THEN 1 + (hash(i, 8) % n_words)::BIGINT END AS at1,
                   CASE WHEN p_snip < 25 THEN 1 + (hash(i, 9) % n_words)::BIGINT END AS at2
            FROM base
        ),
        body AS (
            SELECT *, array_to_string(list_transform(range(1, n_words + 1), k ->
                CASE WHEN k = at1 THEN {_pick("snippets", 10)}
                     WHEN k = at2 THEN {_pick("snippets", 11)}
                     WHEN k = 1 OR hash(i, k, 12) % 12 = 0
                          THEN upper(left(words[1 + (hash(i, k, 13) % len(words))::BIGINT], 1))
                               || substr(words[1 + (hash(i, k, 13) % len(words))::BIGINT], 2)
                     ELSE words[1 + (hash(i, k, 13) % len(words))::BIGINT] END
                || CASE WHEN k < n_words THEN seps[1 + (hash(i, k, 14) % len(seps))::BIGINT] ELSE '' END), '')
                AS words_text
            FROM vocab
        )
        SELECT i, source, lang,
               CASE WHEN p_handle < 15 THEN {_pick("handles", 15)} || ' ' ELSE '' END
               || words_text
               || CASE WHEN p_tag < 30 THEN ' ' || {_pick("hashtags", 16)} ELSE '' END
               || CASE WHEN p_tag % 7 = 0 THEN ' ' || {_pick("hashtags", 17)} ELSE '' END AS text,
               CASE WHEN p_title < CASE source {titled} END THEN
                   CASE WHEN hash(i, 18) % 3 = 0 THEN {_pick("titles", 19)}
                        ELSE array_to_string(list_transform(range(4 + (hash(i, 20) % 6)::BIGINT), k ->
                             words[1 + (hash(i, k, 21) % len(words))::BIGINT]), ' ') END
               END AS title
        FROM body
    """)
    conn.execute(f"""
        INSERT INTO mentions (mention_id, source, native_id, text, title, lang, community, url, author_id,
                              created_at, collected_at, updated_at, like_count)
        SELECT source || ':' || (10^15 + i)::BIGINT, source, ((10^15 + i)::BIGINT)::VARCHAR, text, title, lang,
               {_pick(f"(CASE source {communities} END)", 22)},
               'https://' || {_pick(f"(CASE source {hosts} END)", 23)} || '/p/' || i,
               source || ':' || (hash(i, 24) % {max(n // 8, 10)}),
               TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds((i * 5)::BIGINT),
               TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds((i * 5 + 60)::BIGINT),
               TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds((i * 5 + 60)::BIGINT),
               hash(i, 25) % 40
        FROM gen
    """)
    # what the loader writes for each @-handle in a text (the `r` column joins them back)
    conn.execute("""
        INSERT INTO interactions (mention_id, source, from_author_id, kind, created_at, target_handle)
        SELECT mention_id, source, author_id, 'mention', created_at, unnest(regexp_extract_all(text, '@(\\w+)', 1))
        FROM mentions WHERE contains(text, '@')
    """)
    conn.execute("DROP TABLE gen")
    conn.execute("DROP TABLE ids")


# -- timing ---------------------------------------------------------------------------------


def one(conn: Any, sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """This process's CPU time, DuckDB's threads included: steadier than the wall clock on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timing:
    wall: float
    cpu: float
    result: Any = None


def timed(work: Callable[[], Any]) -> Timing:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return Timing(time.perf_counter() - wall, cpu_seconds() - cpu, result)


def breakdown(conn: Any, rules: list[TopicRule], n: int) -> None:
    needs: set[str] = set().union(*(rule.needs for rule in rules))
    print(f"\nbreakdown: the pieces of tag_mentions run one by one (N = {n:,})")
    print(f"  {'piece':66} {'wall s':>7} {'cpu s':>7} {'mentions/s':>11}  note")

    def row(name: str, t: Timing, note: str = "") -> Timing:
        print(f"  {name:66} {t.wall:7.2f} {t.cpu:7.2f} {n / t.wall if t.wall else 0:11,.0f}  {note}")
        return t

    def run(sql: str) -> Timing:
        return timed(lambda: conn.execute(sql).fetchall())

    run("SELECT sum(length(title)), sum(length(text)), sum(length(url)) FROM mentions")  # warm the buffers
    for name in sorted(needs):
        row(
            f"  column {name} alone (computed, not stored)",
            run(f"SELECT sum(length({name})) FROM ({tag_input_sql({name})})"),
        )
    build = row(
        f"tag_input build ({len(needs)} columns: {', '.join(sorted(needs))})",
        run(f"CREATE OR REPLACE TEMP TABLE tag_input AS {tag_input_sql(needs)}"),
    )
    walls, cpus = 0.0, 0.0
    for rule in rules:
        t = run(f"SELECT count(*) FROM tag_input WHERE {rule.condition}")
        walls, cpus = walls + t.wall, cpus + t.cpu
        hits = t.result[0][0]
        row(
            f"  topic {rule.topic!r} ({rule.kind}) alone",
            t,
            f"{hits:,} hits ({100 * hits / n:.1f}%), needs {','.join(sorted(rule.needs))}",
        )
    row(f"sum of the {len(rules)} conditions, each alone", Timing(walls, cpus))
    union = row(
        "all conditions in one pass over tag_input -> temp table",
        run(f"CREATE OR REPLACE TEMP TABLE probe AS {tagging_sql(rules, 'SELECT * FROM tag_input')}"),
    )
    print(f"  => tag_input build {build.wall / (build.wall + union.wall):.0%} of build + conditions")
    whole = row(
        "tag_mentions' one statement (inputs computed in it) -> temp table",
        run(f"CREATE OR REPLACE TEMP TABLE probe AS {tagging_sql(rules, tag_input_sql(needs))}"),
    )
    print(f"  => the one statement {whole.cpu / (build.cpu + union.cpu):.0%} of build + conditions (cpu)")
    for table in ("probe", "tag_input"):
        conn.execute(f"DROP TABLE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="mentions (default 1,000,000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--no-breakdown", action="store_true", help="skip timing the pieces one by one")
    args = parser.parse_args()
    n = args.n
    work = Path(tempfile.mkdtemp(prefix="listener-tagging-", dir=args.dir))
    try:
        settings = settings_from_dict({"organization": ORGANIZATION, "store": {"path": str(work / "store.duckdb")}})
        t = timed(lambda: rules_from_organization(settings.organization))
        rules: list[TopicRule] = t.result
        shared = share_tests([rule.condition for rule in rules])[1]
        print(f"{len(rules)} topics compiled in {t.wall:.2f}s; {len(shared)} substring tests made once per row for all")
        with Store(settings.store_path) as store:
            conn = store.conn
            threads = one(conn, "SELECT current_setting('threads')")[0]
            t = timed(lambda: store.write_transaction(lambda c: generate(c, n), "bench: generate"))
            conn.execute("CHECKPOINT")
            chars, titled, ascii_only, interactions = one(
                conn,
                "SELECT avg(length(text)), count(title), avg((strlen(text) = length(text))::INT), "
                "(SELECT count(*) FROM interactions) FROM mentions",
            )
            print(
                f"generated {n:,} mentions in {t.wall:.1f}s: text {chars:.0f} chars on average, {titled:,} with a title, "
                f"{ascii_only:.0%} ASCII-only, {interactions:,} interactions; DuckDB threads {threads}; "
                f"peak RSS so far {peak_mb():,.0f} MB"
            )
            samples = conn.execute(
                "SELECT source, lang, coalesce(title || ' || ', '') || text FROM mentions USING SAMPLE 4 ROWS (reservoir, 3)"
            ).fetchall()
            for source, lang, text in samples:
                print(f"  e.g. [{source}/{lang}] {text[:150]}")

            # warm-up on a small scope (the loader's per-batch path)
            conn.execute("CREATE TEMP TABLE warm AS SELECT mention_id FROM mentions LIMIT 1000")
            t = timed(lambda: store.write_transaction(lambda c: tag_mentions(c, rules, scope="warm"), "bench: warm"))
            print(f"warm-up: tag_mentions on 1,000 mentions (scope) in {t.wall:.2f}s")

            # anchors: DuckDB alone, one comparable pass over the same table
            anchor = timed(
                lambda: conn.execute(r"""
                    CREATE TEMP TABLE anchor_words AS
                    SELECT mention_id, ' ' || regexp_replace(lower(concat_ws(' ', title, text)), '[^\pL\pN_]+', ' ', 'g') || ' ' AS w
                    FROM mentions""")
            )
            conn.execute("DROP TABLE anchor_words")
            anchor_re = timed(
                lambda: one(conn, r"SELECT count(*) FROM mentions WHERE regexp_matches(lower(text), '\bacme\b')")[0]
            )

            # the measured run: every mention, all topics, as the pipeline's re-tag does it
            rss_before = peak_mb()
            tagged = timed(lambda: store.write_transaction(lambda c: tag_mentions(c, rules), "bench: tag"))
            rss_after = peak_mb()
            seconds, tags = tagged.wall, tagged.result
            with_hit, mentions_tagged = one(
                conn, "SELECT count(DISTINCT topic), count(DISTINCT mention_id) FROM mention_topics"
            )

            print(f"\n{'case':72} {'wall s':>7} {'cpu s':>7} {'mentions/s':>11} {'x anchor':>8}")
            for name, t in (
                (f"tag_mentions: {len(rules)} topics over all mentions", tagged),
                ("ANCHOR: DuckDB alone, lower+regexp_replace words of title+text -> temp", anchor),
                ("anchor 2: DuckDB alone, count WHERE regexp_matches(lower(text), \\bacme\\b)", anchor_re),
            ):
                print(f"{name:72} {t.wall:7.2f} {t.cpu:7.2f} {n / t.wall:11,.0f} {t.wall / anchor.wall:7.2f}x")
            print(
                f"\nmentions {n:,}; topics {len(rules)} ({with_hit} with a hit); tags written {tags:,} on "
                f"{mentions_tagged:,} mentions; seconds {seconds:.2f} (cpu {tagged.cpu:.2f}); "
                f"{n / seconds:,.0f} mentions/s = {seconds / anchor.wall:.2f}x the anchor ({n / anchor.wall:,.0f}/s)"
            )
            print(
                f"peak RSS {rss_after:,.0f} MB (before tagging {rss_before:,.0f} MB, generation included); "
                f"goal >= {GOAL:,} mentions/s: {'met' if n / seconds >= GOAL else 'NOT met'} "
                f"({n / seconds / GOAL:.2f}x the goal; the anchor alone is {n / anchor.wall / GOAL:.2f}x it)"
            )
            if not args.no_breakdown:
                breakdown(conn, rules, n)
                print(f"\npeak RSS after the breakdown {peak_mb():,.0f} MB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
