"""Writes listener/ops/demo_data/recordings/x.json and reddit.json, the demo's X and Reddit traffic.

The sample story (fictional Acme Coffee, competitors Globex and Initech, the
eight weeks ending 2026-11-22: the Caldera espresso machine launch on
2026-10-20, the burnt Cold Brew Original lots CB26-298..305 recalled on
2026-11-11, the root cause on 11-17, the product back on 11-19) is written
here once, as posts. This script lays the posts out as the HTTP exchanges the
connectors have with the networks, in vcrpy's JSON cassette format:

- X (API v2, as connectors/x.py asks through tweepy's Client): one recent
  search per default query (recent search covers the last 7 days, so the
  searches hold the story's last week), the handle lookup, @acme's mentions
  and @acme's own posts (those timelines reach back over all eight weeks),
  with full expansions (includes.users, includes.tweets) and next_token
  pagination.
- Reddit (as connectors/reddit.py asks through praw): the OAuth token, a
  search per topic, new submissions and comments of r/espresso and r/Coffee,
  and u/acme_official's submissions and comments, as Listings with `after`.

`listener demo` replays the files through the real clients with vcrpy
(record_mode "none"). People, handles and URLs are invented (example.com).
Run this after editing the story; the output is deterministic and
tests/test_demo.py checks that the committed files match it:

    .venv/bin/python tools/make_recordings.py
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

UTC = UTC
RECORDED_AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)  # when the demo "ran"
OUT = Path(__file__).resolve().parent.parent / "listener" / "ops" / "demo_data" / "recordings"


def at(when: str) -> datetime:
    """'11-10 14:05' -> 2026-11-10 14:05 UTC."""
    return datetime.strptime(f"2026-{when}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def base36(number: int, width: int = 0) -> str:
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = chars[rest] + out
    return out.rjust(width, "0") or "0"


def token(*parts: object, length: int = 45) -> str:
    """An opaque pagination token, stable for the same inputs."""
    raw = hashlib.sha256("|".join(map(str, parts)).encode()).digest() * 2
    return base36(int.from_bytes(raw, "big"))[:length]


def served_date(served: int) -> str:
    """The HTTP Date of the `served`-th answer of a recording: two seconds apart from RECORDED_AT."""
    return (RECORDED_AT + timedelta(seconds=served * 2)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def cassette(interactions: list[dict]) -> str:
    return json.dumps({"version": 1, "interactions": interactions}, indent=1, ensure_ascii=False) + "\n"


# =============================================================================
# X
# =============================================================================

X_API = "https://api.twitter.com/2"
SEARCH_SINCE = RECORDED_AT - timedelta(days=7)  # recent search: the last seven days
SNOWFLAKE_EPOCH_MS = 1288834974657
EXPANSIONS = (
    "author_id,referenced_tweets.id,referenced_tweets.id.author_id,entities.mentions.username,in_reply_to_user_id"
)
TWEET_FIELDS = "created_at,public_metrics,lang,conversation_id,entities,referenced_tweets,in_reply_to_user_id,author_id"
USER_FIELDS = "username,name,public_metrics,verified,created_at,description,url"


@dataclass
class XUser:
    handle: str
    name: str
    followers: int
    following: int
    joined: str  # YYYY-MM-DD
    bio: str
    verified: bool = False
    url: str = ""

    @property
    def id(self) -> str:
        return str(10**17 + digest("x-user", self.handle) % (9 * 10**17))

    def payload(self) -> dict:
        return {
            "id": self.id,
            "username": self.handle,
            "name": self.name,
            "verified": self.verified,
            "created_at": f"{self.joined}T{digest('joined', self.handle) % 24:02d}:{digest('m', self.handle) % 60:02d}:00.000Z",
            "description": self.bio,
            "url": self.url,
            "public_metrics": {
                "followers_count": self.followers,
                "following_count": self.following,
                "tweet_count": 300 + digest("tweets", self.handle) % 9000,
                "listed_count": self.followers // 180,
                "like_count": 500 + digest("likes", self.handle) % 20000,
            },
        }


X_USERS = {
    u.handle: u
    for u in [
        XUser(
            "acme",
            "Acme Coffee",
            48210,
            312,
            "2011-03-14",
            "Roasting since 1998. Cold brew, the Caldera, and cafés near you. Need help? DM us, we answer 7am-10pm ET.",
            True,
            "https://acme.example.com",
        ),
        XUser(
            "globex",
            "Globex",
            131400,
            1204,
            "2010-06-02",
            "Coffee for everyone, everywhere. PodStar, nitro cold brew and 2,000 cafés.",
            True,
            "https://globex.example.com",
        ),
        XUser(
            "initech",
            "Initech",
            22750,
            418,
            "2012-09-19",
            "Sensible coffee gear since 1986. Duo espresso, Burr Pro grinder, Steep 12.",
            True,
            "https://initech.example.com",
        ),
        XUser(
            "thecoffeeoracle",
            "The Coffee Oracle",
            412300,
            880,
            "2013-01-07",
            "Coffee news, hot takes and cold brew. Not affiliated with any brand. Opinions mine.",
            True,
        ),
        XUser(
            "cremacritic",
            "Crema Critic",
            186900,
            1530,
            "2014-05-22",
            "Espresso machine and grinder reviews. I buy what I test.",
            True,
            "https://cremacritic.example.com",
        ),
        XUser(
            "cremawire",
            "Crema Wire",
            54320,
            97,
            "2015-02-11",
            "Coffee industry news. Tips: tips@cremawire.example.com",
            True,
            "https://cremawire.example.com",
        ),
        XUser(
            "gadgetgrind",
            "Gadget Grind",
            95400,
            611,
            "2016-08-30",
            "Kitchen gadget reviews, honest and caffeinated.",
            False,
            "https://gadgetgrind.example.com",
        ),
        XUser(
            "brewbyjules",
            "Jules Okafor-Lind",
            2140,
            530,
            "2017-04-03",
            "pour-over person turned espresso person. plants, cats.",
        ),
        XUser("oatmilk_ollie", "Ollie Brandvold", 860, 402, "2019-11-12", "oat milk in everything. yes, everything."),
        XUser(
            "grindset_gabe",
            "Gabe Marchetti-Sol",
            1310,
            288,
            "2018-02-27",
            "home barista, weekend cyclist, grinder collector",
        ),
        XUser(
            "latteart_lina", "Lina Vasquez-Tran", 5420, 610, "2016-10-08", "latte art attempts, daily. some are hearts."
        ),
        XUser("nightshift_nico", "Nico Adeyemi-Park", 640, 377, "2020-03-19", "nurse. nights. coffee is a food group."),
        XUser("quietkettle", "Wren Halvorsen", 930, 215, "2018-07-14", "early riser. quiet mornings, loud opinions."),
        XUser(
            "mapleandmocha", "Tess Ambrose-Kalu", 3050, 720, "2015-09-25", "recipes, rewards hacks, and too many mugs"
        ),
        XUser("ristretto_rae", "Rae Lindqvist-Obi", 1780, 455, "2017-12-01", "short shots, long walks"),
        XUser(
            "coldbrew_cora",
            "Cora Fenwick-Adair",
            720,
            310,
            "2019-05-05",
            "cold brew every morning since 2019. yes even in winter",
        ),
        XUser("commuter_cass", "Cass Delacroix-Wynn", 410, 198, "2021-01-22", "train, coffee, train, work, coffee"),
        XUser("cafe_con_lucia", "Lucía Ferreira-Montes", 2260, 640, "2016-03-30", "café, libros y viajes. ES/EN"),
        XUser(
            "espresso_eliot", "Eliot Nakamura-Reid", 350, 160, "2022-06-11", "new to espresso, asking dumb questions"
        ),
        XUser(
            "beanbudget_bea",
            "Bea Sorensen-Mbah",
            1020,
            390,
            "2018-10-16",
            "good coffee on a budget. deals, refunds, receipts.",
        ),
        XUser("beep_beep_bex", "Bex Tolliver", 4400, 1020, "2014-12-12", "cartoons, coffee, chaos"),
        XUser("counterspace_kim", "Kim Arroyo-Blake", 280, 145, "2020-08-08", "small kitchen, big machines"),
        XUser("lyon_latte", "Margaux Pellerin-Sy", 1150, 530, "2017-06-21", "Lyon. Café, vélo, boulangeries."),
        XUser("nitro_nadia", "Nadia Brennan-Osei", 690, 300, "2019-07-07", "nitro everything. canned optimism."),
        XUser("duo_diaries", "Sam Whitcombe-Ito", 310, 190, "2021-04-04", "one espresso machine, many feelings"),
        XUser("pod_person_pat", "Pat Kowalczyk-Ngata", 540, 260, "2018-01-30", "pods and proud"),
        XUser("fridgeshelf_fi", "Fi Castellanos-Rudd", 190, 120, "2022-09-02", "fridge door is 80% cold brew"),
    ]
}


@dataclass
class Tweet:
    key: str
    author: str
    when: datetime
    text: str = ""
    reply_to: str | None = None
    quote_of: str | None = None
    rt_of: str | None = None
    likes: int = 0
    rts: int = 0
    lang: str = "en"
    extra_replies: int = 0
    extra_quotes: int = 0
    # filled in by layout
    id: str = ""
    conversation: str = ""
    seq: int = 0


STORY_X: list[Tweet] = []


def post(key, author, when, text, likes=0, rts=0, lang="en", replies=0, quotes=0):
    STORY_X.append(
        Tweet(key, author, at(when), text, likes=likes, rts=rts, lang=lang, extra_replies=replies, extra_quotes=quotes)
    )


def reply(key, author, when, to, text, likes=0, rts=0, lang="en"):
    STORY_X.append(Tweet(key, author, at(when), text, reply_to=to, likes=likes, rts=rts, lang=lang))


def quote(key, author, when, of, text, likes=0, rts=0, lang="en"):
    STORY_X.append(Tweet(key, author, at(when), text, quote_of=of, likes=likes, rts=rts, lang=lang))


def repost(key, author, when, of):
    STORY_X.append(Tweet(key, author, at(when), rt_of=of))


# -- week 1: Sep 28 - Oct 4 -------------------------------------------------------
post(
    "a_fall",
    "acme",
    "09-29 16:00",
    "Fall roast calendar is here 🍂 Harvest Roast lands Oct 6, plus two single origins we've been saving since spring. https://blog.acme.example.com/2026/09/fall-roast-calendar",
    412,
    38,
)
post(
    "a_icd",
    "acme",
    "10-01 12:00",
    "Happy International Coffee Day! ☕ Bring any cup to a participating Acme café today for a free refill of drip or cold brew. Rewards members get double stars all day.",
    1320,
    240,
)
post(
    "jules_thermos",
    "brewbyjules",
    "10-01 13:10",
    "@acme free cold brew refill in my grandma's thermos and nobody even blinked. love you guys 🧡",
    88,
    3,
)
reply("a_thermos", "acme", "10-01 13:42", "jules_thermos", "@brewbyjules the thermos is iconic. Enjoy! 🧡", 41)
post(
    "a_bottle",
    "acme",
    "10-02 15:30",
    "Why doesn't our cold brew taste like iced coffee? Time. 18 hours of it, in small batches, at our Millbrook plant. Behind the bottle: https://blog.acme.example.com/2026/10/behind-the-bottle",
    530,
    61,
)

# -- week 2: Oct 5 - 11: Mill 2 burrs, the teaser, Lyon ---------------------------------
post(
    "gabe_burrs",
    "grindset_gabe",
    "10-05 18:20",
    "@acme my Mill 2 is 14 months old and the burrs are already dull. Is this normal?? Pretty disappointed.",
    23,
    2,
)
reply(
    "a_burrs1",
    "acme",
    "10-05 19:02",
    "gabe_burrs",
    "@grindset_gabe that's not normal, and you're not the only one telling us. Can you DM us your serial number? We're looking at early Mill 2 burrs right now.",
    12,
)
post(
    "a_burrprog",
    "acme",
    "10-06 16:00",
    "You told us early Mill 2 burrs were wearing out too fast. You were right. Free burr replacement for every Mill 2 made before June 2026: https://blog.acme.example.com/2026/10/mill-2-burr-replacement",
    980,
    212,
)
reply(
    "gabe_burrs2",
    "grindset_gabe",
    "10-06 16:31",
    "a_burrs1",
    "@acme just saw the burr replacement program and filled in the form. That was fast, thank you!",
    31,
)
reply(
    "a_burrs2",
    "acme",
    "10-06 16:55",
    "gabe_burrs2",
    "@grindset_gabe thank you for telling us, loudly. It helped. New burrs ship this week.",
    18,
)
post(
    "a_tease",
    "acme",
    "10-08 14:00",
    "Mark your calendars: October 20. It's heavy, it's shiny, and that's all we can say. 🤫 https://acme.example.com/october20",
    4210,
    1130,
    quotes=2,
)
repost("ollie_rt_tease", "oatmilk_ollie", "10-08 14:25", "a_tease")
post(
    "oracle_tease",
    "thecoffeeoracle",
    "10-08 18:40",
    "@acme is teasing 'heavy and shiny' for October 20. My money is on a home espresso machine. If it's pods I'm logging off for a week.",
    3120,
    402,
)
post(
    "lyon_q",
    "lyon_latte",
    "10-09 08:15",
    "@acme trois cafés à Lyon d'ici la fin de l'année ? J'ai hâte, vous ouvrez quand exactement ?",
    14,
    1,
    lang="fr",
)
reply(
    "a_lyon",
    "acme",
    "10-09 09:05",
    "lyon_q",
    "@lyon_latte avant Noël, promis ! Le premier ouvre rue Mercière. On vous tient au courant ☕",
    22,
    lang="fr",
)
post(
    "bex_anvil",
    "beep_beep_bex",
    "10-10 17:00",
    "@acme the Acme anvil I ordered missed the roadrunner AGAIN. 0/10, would not drop on a bird again",
    2210,
    380,
)
reply(
    "a_anvil",
    "acme",
    "10-10 17:45",
    "bex_anvil",
    "@beep_beep_bex we only make coffee, we promise. Coyote-grade anvils are a different company. Can we interest you in a very heavy espresso machine instead? (More on the 20th.)",
    5400,
    910,
)

# -- week 3: Oct 12 - 18: the rumour mill ----------------------------------------------
post(
    "wire_tease",
    "cremawire",
    "10-12 13:10",
    "Acme teases an October 20 event; shipping records reviewed by Crema Wire point to a home espresso machine. @acme declined to comment. https://cremawire.example.com/2026/10/acme-october-20",
    640,
    155,
)
post("a_five", "acme", "10-15 16:00", "5 days. We're so excited we can barely stand it. ☕", 2890, 402)
post(
    "gabe_trust",
    "grindset_gabe",
    "10-15 18:30",
    "@acme whatever it is on the 20th, I'm probably buying it. the Mill 2 burr program earned my trust 🧡",
    45,
    2,
)
post(
    "rae_58",
    "ristretto_rae",
    "10-16 12:30",
    "@acme please let it be a real 58mm portafilter 🙏 I have so many baskets",
    64,
    4,
)
reply(
    "a_58",
    "acme",
    "10-16 13:10",
    "rae_58",
    "@ristretto_rae we can neither confirm nor deny. (We can confirm on Tuesday.) 😉",
    310,
    22,
)

# -- week 4: Oct 19 - 25: the Caldera launch ----------------------------------------------
post(
    "a_caldera",
    "acme",
    "10-20 13:00",
    "Meet the Acme Caldera, our first espresso machine. PID-controlled boiler, a real 58mm portafilter, and a steam wand that makes proper microfoam. $549, available today. https://acme.example.com/caldera ☕",
    8430,
    2110,
    replies=140,
    quotes=610,
)
repost("jules_rt_caldera", "brewbyjules", "10-20 13:04", "a_caldera")
repost("ollie_rt_caldera", "oatmilk_ollie", "10-20 13:20", "a_caldera")
repost("tess_rt_caldera", "mapleandmocha", "10-20 14:02", "a_caldera")
quote(
    "oracle_caldera",
    "thecoffeeoracle",
    "10-20 14:10",
    "a_caldera",
    "Not pods. A real 58mm portafilter and PID for $549. I owe several of you an apology and @acme a compliment: this is a genuinely great launch.",
    6120,
    880,
)
post(
    "critic_handson",
    "cremacritic",
    "10-20 16:45",
    "Spent an hour with the @acme Caldera at the Harbor Street café. Stable temperature, gorgeous crema, excellent steam wand. Early verdict: the best $549 espresso machine I've tried.",
    2640,
    530,
)
repost("a_rt_critic", "acme", "10-20 17:05", "critic_handson")
post(
    "lina_order",
    "latteart_lina",
    "10-21 13:05",
    "@acme ordered the Caldera at 9:01, confirmation at 9:02, sold out by 9:20. happy dance 💃",
    410,
    12,
)
reply(
    "a_lina_order",
    "acme",
    "10-21 13:30",
    "lina_order",
    "@latteart_lina 9:01! You were fast. Welcome to the Caldera club ☕",
    96,
)
post(
    "tess_foam",
    "mapleandmocha",
    "10-22 19:40",
    "@acme the Caldera steam wand is incredible. first real microfoam of my life 🥹",
    530,
    31,
)
reply(
    "a_tess_foam", "acme", "10-22 20:05", "tess_foam", "@mapleandmocha that's the stuff. Welcome to microfoam. 🧡", 120
)
post(
    "rae_unbox",
    "ristretto_rae",
    "10-23 17:15",
    "unboxed my @acme Caldera: heavy, gorgeous, beautifully built, and yes it takes all my 58mm baskets. best kitchen purchase this year",
    310,
    19,
)
post(
    "nico_soldout",
    "nightshift_nico",
    "10-21 14:12",
    "@acme sold out in 20 minutes?? I refreshed for an hour after my shift. Really disappointed. When is the next batch?",
    51,
    3,
)
reply(
    "a_nico_soldout",
    "acme",
    "10-21 14:40",
    "nico_soldout",
    "@nightshift_nico we're sorry, we did not expect that either. The second batch ships in early November and you can reserve one now: https://acme.example.com/caldera",
    27,
)
post(
    "a_soldout",
    "acme",
    "10-22 15:00",
    "The first Caldera production run sold out in 36 hours. Thank you, truly. Launch-day orders ship by tomorrow; everyone else, early November. https://blog.acme.example.com/2026/10/caldera-launch-week",
    3310,
    420,
)
post(
    "jules_shot",
    "brewbyjules",
    "10-23 09:30",
    "first shot on my new @acme Caldera: 18g in, 37g out, 28s. sweet, syrupy, zero channeling. i'm in love ☕✨",
    1290,
    140,
)
quote("a_q_jules", "acme", "10-23 10:05", "jules_shot", "This is the dream. 18 in, 37 out, 28 seconds. 🧡", 2210, 190)
post(
    "wren_pump",
    "quietkettle",
    "10-24 11:20",
    "@acme the Caldera pump is loud enough to wake my whole house at 6am. Great shots, but wow.",
    140,
    9,
)
reply(
    "a_wren_pump",
    "acme",
    "10-24 12:00",
    "wren_pump",
    "@quietkettle fair! A firmware update with a softer pre-infusion ramp is on the way. We'll shout when it's out.",
    88,
)
post(
    "kim_damage",
    "counterspace_kim",
    "10-25 15:10",
    "@acme my Caldera arrived with a cracked drip tray and a dented side panel. Emailed support 4 days ago and heard nothing. Really frustrated.",
    72,
    8,
)
reply(
    "a_kim1",
    "acme",
    "10-25 15:32",
    "kim_damage",
    "@counterspace_kim that's not okay, and we're sorry for the wait. Please DM us your order number and we'll send a new drip tray and panel today.",
    19,
)
reply("kim_dm", "counterspace_kim", "10-25 15:50", "a_kim1", "@acme DM sent. thanks for actually answering here", 6)
reply(
    "a_kim2",
    "acme",
    "10-25 16:20",
    "kim_dm",
    "@counterspace_kim got it. Both parts ship tomorrow with tracking. Sorry again, and enjoy the machine.",
    11,
)

# -- week 5: Oct 26 - Nov 1 ---------------------------------------------------------------
post(
    "a_dialin",
    "acme",
    "10-26 15:00",
    "New to espresso? Start here: 18g in, 36g out, 25-30 seconds. Our beginner's guide to dialing in your Caldera: https://blog.acme.example.com/2026/10/dialing-in-caldera",
    1870,
    390,
)
post(
    "tess_stars",
    "mapleandmocha",
    "10-29 13:40",
    "@acme the Rewards update wiped my 840 stars?? I was saving for a free bag. Not happy.",
    230,
    21,
)
reply(
    "a_tess_stars",
    "acme",
    "10-29 14:15",
    "tess_stars",
    "@mapleandmocha your stars are safe, promise. It's a display bug in the new app; a fix ships Tuesday and your balance comes back with it.",
    44,
)
post(
    "a_recipes",
    "acme",
    "10-30 16:00",
    "Cold brew in autumn? Yes, really. Maple oat, spiced tonic, cold brew affogato and two more: https://blog.acme.example.com/2026/10/five-cold-brew-recipes",
    760,
    95,
)

# -- week 6: Nov 1 - 8 ------------------------------------------------------------------------
post(
    "a_rewards",
    "acme",
    "11-03 14:00",
    "The new Acme Rewards app is rolling out this week: a cleaner order screen, saved favorites, and stars that never expire.",
    640,
    58,
)
reply(
    "tess_back",
    "mapleandmocha",
    "11-03 18:25",
    "a_tess_stars",
    "@acme they're back! all 840. ok you're forgiven 😌",
    61,
)
reply("a_tess_back", "acme", "11-03 18:40", "tess_back", "@mapleandmocha 🧡 enjoy that free bag.", 30)
post(
    "a_sourcing",
    "acme",
    "11-06 15:00",
    "Our 2026 sourcing report is live: 41 farms and co-ops in nine countries, paid 2.1x the commodity price on average. https://blog.acme.example.com/2026/11/sourcing-report-2026",
    520,
    130,
)
post(
    "lina_art",
    "latteart_lina",
    "11-07 10:10",
    "@acme latte art practice, day 14 on the Caldera. it's a heart if you squint",
    860,
    40,
)
reply(
    "a_lina_art",
    "acme",
    "11-07 10:35",
    "lina_art",
    "@latteart_lina we see a heart. A very confident heart. Keep going! 🧡",
    210,
)

# -- week 7: Nov 8 - 15: the burnt batch and the recall --------------------------------------
post(
    "cora_burnt",
    "coldbrew_cora",
    "11-09 23:40",
    "@acme did you change the Cold Brew Original recipe?? two bottles today and both taste burnt and bitter, ashtray vibes. this is my daily drink and it's ruined 😢",
    480,
    96,
)
post(
    "oracle_burnt",
    "thecoffeeoracle",
    "11-10 01:15",
    "Getting a flood of angry messages: @acme Cold Brew Original suddenly tastes burnt and smoky and people are pouring it out. Anyone else? Check the lot number on the neck.",
    5230,
    1420,
)
repost("ollie_rt_burnt", "oatmilk_ollie", "11-10 01:40", "oracle_burnt")
repost("cass_rt_burnt", "commuter_cass", "11-10 02:05", "oracle_burnt")
post(
    "cass_burnt",
    "commuter_cass",
    "11-10 03:00",
    "@acme terrible. poured the whole bottle out. tastes like a tire fire. lot CB26-301",
    310,
    45,
)
post(
    "fi_worst",
    "fridgeshelf_fi",
    "11-10 07:45",
    "@acme worst cold brew I've ever had. burnt, bitter and honestly gross. what is going on??",
    96,
    11,
)
post(
    "tess_ruined",
    "mapleandmocha",
    "11-10 08:20",
    "@acme a whole fridge door of cold brew, ruined. disappointed doesn't cover it",
    260,
    30,
)
post(
    "gabe_burnt",
    "grindset_gabe",
    "11-10 09:00",
    "@acme three bottles, all burnt and bitter. Lot CB26-300. What happened?",
    120,
    14,
)
repost("nico_rt_burnt", "nightshift_nico", "11-10 09:30", "oracle_burnt")
post(
    "nico_silence",
    "nightshift_nico",
    "11-10 11:30",
    "14 hours of people yelling at @acme about burnt cold brew and not a single word back. Awful.",
    1890,
    470,
)
post(
    "rae_disgusting",
    "ristretto_rae",
    "11-10 12:05",
    "@acme hate to say it but this batch is disgusting. poured out four bottles",
    88,
    9,
)
post(
    "lucia_burnt",
    "cafe_con_lucia",
    "11-10 12:40",
    "El cold brew de @acme sabe a quemado. Qué decepción, lo tomo todos los días.",
    150,
    31,
    lang="es",
)
post(
    "a_pause",
    "acme",
    "11-10 14:00",
    "We've heard you. Some bottles of Acme Cold Brew Original taste burnt, and we've tasted it too. We're pausing all shipments while we find out why. More soon. https://blog.acme.example.com/2026/11/pausing-cold-brew-shipments",
    2040,
    860,
    replies=300,
)
reply(
    "a_cora1",
    "acme",
    "11-10 14:20",
    "cora_burnt",
    "@coldbrew_cora we're so sorry. It's not a recipe change, and you're right that something is wrong. We've paused shipments; please keep the bottle or note the lot number.",
    140,
)
reply(
    "cora_lot", "coldbrew_cora", "11-10 15:00", "a_cora1", "@acme thanks for answering. lot CB26-299 if that helps", 38
)
reply("a_cora2", "acme", "11-10 15:12", "cora_lot", "@coldbrew_cora it does, thank you. 🙏", 25)
reply(
    "a_cass",
    "acme",
    "11-10 15:30",
    "cass_burnt",
    "@commuter_cass we're sorry. CB26-301 is one of the lots we're looking at. Everyone affected will get a refund; details tomorrow.",
    44,
)
quote(
    "critic_pause",
    "cremacritic",
    "11-10 16:05",
    "a_pause",
    "Pausing shipments of something already in every fridge is not a plan, @acme. Tell people what to do with the bottles they have. Frustrating.",
    3120,
    610,
)
post(
    "a_recall",
    "acme",
    "11-11 15:00",
    "We're recalling Acme Cold Brew Original 32 oz, lots CB26-298 through CB26-305. No safety issue, but the coffee was over-roasted and it tastes burnt. Full refund, no receipt needed: https://acme.example.com/recall",
    3860,
    2830,
    replies=410,
)
repost("jules_rt_recall", "brewbyjules", "11-11 15:08", "a_recall")
repost("gabe_rt_recall", "grindset_gabe", "11-11 15:15", "a_recall")
repost("wire_rt_recall", "cremawire", "11-11 15:20", "a_recall")
repost("tess_rt_recall", "mapleandmocha", "11-11 15:41", "a_recall")
post(
    "wire_recall",
    "cremawire",
    "11-11 16:30",
    "@acme recalls Cold Brew Original lots CB26-298 to CB26-305 over a roasting defect; independent testing found no safety risk, the company says. https://cremawire.example.com/2026/11/acme-recall",
    890,
    450,
)
post("eliot_crash", "espresso_eliot", "11-11 16:10", "@acme the recall page keeps timing out. frustrating mess", 30, 4)
reply(
    "a_eliot_crash",
    "acme",
    "11-11 16:25",
    "eliot_crash",
    "@espresso_eliot sorry about that, far more visitors than we planned for. It's back up now and the form takes about two minutes.",
    19,
)
post(
    "ollie_switch",
    "oatmilk_ollie",
    "11-11 18:10",
    "switching to @globex nitro until @acme sorts this out. sorry acme, i can't drink campfire",
    75,
    6,
)
post(
    "rae_vanilla",
    "ristretto_rae",
    "11-11 19:30",
    "@acme is the Cold Brew Vanilla affected too? mine tastes a bit smoky",
    40,
    2,
)
reply(
    "a_rae_vanilla",
    "acme",
    "11-11 20:05",
    "rae_vanilla",
    "@ristretto_rae Vanilla isn't in the recalled lots, but if yours tastes wrong we'll refund it anyway. Same form.",
    33,
)
post(
    "eliot_bottle",
    "espresso_eliot",
    "11-12 12:00",
    "@acme do I have to bring the bottle back or can I just pour it out and use the refund form?",
    9,
)
reply(
    "a_eliot_bottle",
    "acme",
    "11-12 12:20",
    "eliot_bottle",
    "@espresso_eliot pour it out (sorry) and use the form. No bottle, no receipt needed.",
    21,
)
post(
    "bea_refund",
    "beanbudget_bea",
    "11-12 14:30",
    "@acme recall form took 2 minutes and the refund hit my card this morning. Still annoyed, but that's how you handle it.",
    510,
    62,
)
reply(
    "a_bea_refund",
    "acme",
    "11-12 15:00",
    "bea_refund",
    "@beanbudget_bea thank you for the patience. A voucher for a free bottle is coming once the new lots are out.",
    57,
)
quote(
    "oracle_recall",
    "thecoffeeoracle",
    "11-12 17:20",
    "a_recall",
    "Credit where it's due: @acme went from 'pausing' to a full recall with no-receipt refunds in under 24 hours. The silence before that was not great, though.",
    4410,
    730,
)
post(
    "cora_refund", "coldbrew_cora", "11-13 13:00", "@acme got my refund. still sad about my morning routine though", 66
)
post(
    "a_ceo",
    "acme",
    "11-14 14:00",
    "A note from our CEO: this week we let you down, and we're sorry. https://blog.acme.example.com/2026/11/a-note-from-our-ceo",
    1640,
    390,
    replies=180,
)
reply(
    "nico_ceo",
    "nightshift_nico",
    "11-14 15:30",
    "a_ceo",
    "@acme appreciate the apology. now tell us how it happened.",
    220,
    12,
)
reply(
    "a_nico_ceo", "acme", "11-14 16:00", "nico_ceo", "@nightshift_nico we will, in full, early next week. Promise.", 95
)

# -- week 8: Nov 15 - 22 (also inside the recent-search window) ------------------------------------
post(
    "tess_miss",
    "mapleandmocha",
    "11-15 15:20",
    "not gonna lie, I miss my Acme cold brew. the fridge door looks empty",
    140,
    4,
)
post(
    "globex_points",
    "globex",
    "11-16 13:00",
    "Double points all week on Globex Rewards. Stack it with Friday BOGO. ☕",
    980,
    120,
)
reply(
    "pat_points",
    "pod_person_pat",
    "11-16 14:10",
    "globex_points",
    "@globex double points week is dangerous for my wallet and great for my PodStar",
    12,
)
post(
    "lina_tulip",
    "latteart_lina",
    "11-16 16:30",
    "@acme Caldera + Harvest Roast + oat milk = my Sunday. the latte art finally looks like a tulip 🌷",
    1120,
    70,
)
reply(
    "a_lina_tulip",
    "acme",
    "11-16 17:00",
    "lina_tulip",
    "@latteart_lina that is absolutely a tulip. Framing it. 🌷",
    340,
)
post(
    "initech_steep",
    "initech",
    "11-17 13:00",
    "Meet the Initech Steep 12: smooth cold brew at home in 12 hours, with gentle agitation. $89. https://initech.example.com/steep12",
    1430,
    360,
)
post(
    "wire_steep",
    "cremawire",
    "11-17 14:30",
    "Initech launches the Steep 12 cold brew maker, less than a week after the Acme cold brew recall. $89. https://cremawire.example.com/2026/11/initech-steep-12",
    410,
    90,
)
post(
    "a_why",
    "acme",
    "11-17 17:00",
    "What went wrong with lots CB26-298 to 305: a temperature probe on one roaster read 12°C low, the roaster ran hot, and we tasted those lots hot instead of as cold brew. Full write-up: https://blog.acme.example.com/2026/11/what-went-wrong",
    2980,
    1210,
    replies=260,
)
reply(
    "a_why2",
    "acme",
    "11-17 17:02",
    "a_why",
    "2/ What's changing: every lot is now tasted as finished cold brew, by us and by an outside panel, before it ships. Roaster probes are checked against a reference every shift.",
    1210,
    240,
)
reply(
    "a_why3",
    "acme",
    "11-17 17:04",
    "a_why2",
    "3/ And to the people on the bottling line who said something smelled off: you were right. From now on anyone can stop the line, no questions asked.",
    2650,
    520,
)
quote(
    "oracle_why",
    "thecoffeeoracle",
    "11-17 18:00",
    "a_why",
    "This is how you write a post-mortem. Clear cause, clear fixes, no PR fog. Respect, @acme.",
    4020,
    690,
)
repost("gabe_rt_why", "grindset_gabe", "11-17 18:20", "a_why")
repost("bea_rt_why", "beanbudget_bea", "11-17 19:05", "a_why")
post(
    "cass_thermo",
    "commuter_cass",
    "11-17 21:40",
    "still not buying acme cold brew again. a thermometer? that's it? come on",
    35,
    2,
)
post(
    "globex_reserve",
    "globex",
    "11-18 14:00",
    "Holiday Reserve is back: cocoa, dried cherry, a dark roast for cold nights. Pre-order now, ships December 1 ❄️ https://globex.example.com/holiday-reserve",
    2210,
    540,
)
repost("pat_rt_reserve", "pod_person_pat", "11-18 14:30", "globex_reserve")
post(
    "nadia_reserve",
    "nitro_nadia",
    "11-18 15:05",
    "globex holiday reserve pre-ordered. last year's was lovely as drip, meh as pods",
    18,
)
post(
    "ollie_drought",
    "oatmilk_ollie",
    "11-18 16:40",
    "honestly globex nitro has been carrying me through the acme cold brew drought",
    44,
    3,
)
post(
    "initech_popup",
    "initech",
    "11-18 17:00",
    "In Millbrook? The Initech pop-up at Millbrook Mall has free cold brew tastings from the Steep 12 and espresso demos on the Duo, through December 31.",
    320,
    41,
)
post(
    "gadget_steep",
    "gadgetgrind",
    "11-18 19:30",
    "Initech Steep 12 review: genuinely smooth cold brew in 12 hours, fiddly filter basket. 4/5. After this month, making your own feels smart.",
    1880,
    210,
)
post("eliot_bf", "espresso_eliot", "11-18 20:15", "@acme any chance the Caldera goes on sale for Black Friday?", 11)
reply(
    "a_eliot_bf",
    "acme",
    "11-18 20:40",
    "eliot_bf",
    "@espresso_eliot honest answer: no Caldera discount this year. We'd rather keep the price fair all year. It does come with a free bag of espresso beans through Dec 24.",
    120,
)
post(
    "a_back",
    "acme",
    "11-19 15:00",
    "Acme Cold Brew Original is back. Every lot is now tasted cold, by us and an outside panel. If you filed a recall claim, your free-bottle voucher is in your inbox. Thank you for giving us another shot. 🧡",
    6720,
    1530,
    replies=210,
)
repost("cora_rt_back", "coldbrew_cora", "11-19 15:03", "a_back")
repost("jules_rt_back", "brewbyjules", "11-19 15:30", "a_back")
post(
    "cora_back",
    "coldbrew_cora",
    "11-19 18:10",
    "@acme new lot CB26-318 and it tastes like it used to. smooth, chocolatey, no smoke. welcome back 🥹",
    2390,
    310,
)
quote(
    "a_q_cora",
    "acme",
    "11-19 18:45",
    "cora_back",
    "This one made our whole team's week. Welcome back, Cora. 🧡",
    3010,
    220,
)
post(
    "lucia_back",
    "cafe_con_lucia",
    "11-19 20:00",
    "¡Volvió el cold brew de @acme! Sabe como antes, suave y con notas de cacao. 🙌",
    210,
    22,
    lang="es",
)
post("fi_voucher", "fridgeshelf_fi", "11-19 21:30", "@acme my recall voucher never came :( filed my claim on Nov 11", 4)
reply(
    "a_fi1",
    "acme",
    "11-19 21:50",
    "fi_voucher",
    "@fridgeshelf_fi sorry! Check your spam folder first (sadly). If it isn't there, DM us your claim number and we'll resend it tonight.",
    15,
)
reply("fi_spam", "fridgeshelf_fi", "11-19 22:10", "a_fi1", "@acme it was in spam 🤦 got it, thanks!", 21)
reply(
    "a_fi2", "acme", "11-19 22:20", "fi_spam", "@fridgeshelf_fi happens to the best of us. Enjoy the free bottle!", 18
)
post(
    "a_firmware",
    "acme",
    "11-20 15:00",
    "Acme Caldera firmware 1.2 is rolling out: a quieter pre-infusion, steam about 4 seconds faster, and a fix for the overeager drip-tray sensor. https://blog.acme.example.com/2026/11/caldera-firmware-1-2",
    2450,
    380,
)
reply(
    "wren_quiet",
    "quietkettle",
    "11-20 17:30",
    "a_firmware",
    "@acme the pump is SO much quieter now. thank you for actually listening!",
    310,
    18,
)
reply(
    "a_wren_quiet",
    "acme",
    "11-20 17:50",
    "wren_quiet",
    "@quietkettle told you we'd shout 📣 Enjoy the quiet mornings.",
    190,
)
post(
    "critic_guide",
    "cremacritic",
    "11-20 18:00",
    "Gift guide: the best espresso machines under $600. Best overall: the @acme Caldera. Best value: the @initech Duo at $399. https://cremacritic.example.com/gift-guide-2026",
    1760,
    410,
)
post(
    "sam_duo",
    "duo_diaries",
    "11-20 19:45",
    "my initech duo temperature swings are driving me nuts. flush, wait, pull, repeat. every single morning",
    27,
    1,
)
post(
    "tess_peppermint",
    "mapleandmocha",
    "11-20 21:00",
    "the globex peppermint mocha is a candy cane dissolved in chocolate milk. my kids loved it. I did not",
    96,
    7,
)
post(
    "a_gifts",
    "acme",
    "11-21 15:00",
    "The Acme holiday gift guide is up: Holiday Blend tins, the Cold Brew Starter Kit, and a Caldera with a free bag of espresso beans through Dec 24. https://blog.acme.example.com/2026/11/holiday-gift-guide",
    910,
    150,
)
post(
    "nico_parents",
    "nightshift_nico",
    "11-21 16:20",
    "caldera or a globex podstar for my parents? dad thinks a grinder is a sandwich",
    63,
    2,
)
post(
    "bea_steep",
    "beanbudget_bea",
    "11-21 18:30",
    "initech steep 12 arrived. first batch goes in tonight. cold brew independence day",
    48,
    2,
)
post(
    "oracle_bf",
    "thecoffeeoracle",
    "11-21 19:00",
    "Black Friday watch: no Caldera discount (Acme says so), the Initech Duo rumored at $349, Globex PodStar Mini at $49. Plan accordingly.",
    3340,
    560,
)
post(
    "gabe_weekend",
    "grindset_gabe",
    "11-22 08:00",
    "Weekend plan: Acme Harvest Roast, the Caldera, and nowhere to be.",
    74,
    2,
)


def x_layout() -> dict[str, Tweet]:
    tweets = {t.key: t for t in STORY_X}
    assert len(tweets) == len(STORY_X), "duplicate tweet keys"
    for index, t in enumerate(sorted(STORY_X, key=lambda t: (t.when, t.key))):
        assert t.author in X_USERS, t.author
        for ref in (t.reply_to, t.quote_of, t.rt_of):
            assert ref is None or (ref in tweets and tweets[ref].when < t.when), (t.key, ref)
        if not t.id:  # once: the story gives minutes, X gives seconds (and the id carries the time)
            t.when += timedelta(seconds=digest("second", t.key) % 50)
        millis = int(t.when.timestamp() * 1000) + digest("ms", t.key) % 1000
        t.id = str(((millis - SNOWFLAKE_EPOCH_MS) << 22) | ((digest("worker", t.key) % 1024) << 12) | index)
        if t.rt_of:
            orig = tweets[t.rt_of]
            full = f"RT @{orig.author}: {orig.text}"
            t.text = full if len(full) <= 140 else full[:139].rstrip() + "…"
            t.lang = orig.lang
    for t in sorted(STORY_X, key=lambda t: t.when):
        root = t
        while root.reply_to:
            root = tweets[root.reply_to]
        t.conversation = root.id
        if t.reply_to:
            parent = tweets[t.reply_to]
            assert t.text.startswith(f"@{parent.author} ") or parent.author == t.author, (t.key, t.text)
    return tweets


def tweet_payload(t: Tweet, tweets: dict[str, Tweet]) -> dict:
    if t.rt_of:
        orig = tweets[t.rt_of]
        metrics = {"retweet_count": public_rts(orig, tweets), "reply_count": 0, "like_count": 0, "quote_count": 0}
    else:
        metrics = {
            "retweet_count": public_rts(t, tweets),
            "reply_count": sum(1 for o in tweets.values() if o.reply_to == t.key) + t.extra_replies,
            "like_count": t.likes,
            "quote_count": sum(1 for o in tweets.values() if o.quote_of == t.key) + t.extra_quotes,
        }
    metrics["bookmark_count"] = t.likes // 25
    metrics["impression_count"] = 0 if t.rt_of else max(40, t.likes * 31 + metrics["retweet_count"] * 97 + 150)
    payload = {
        "id": t.id,
        "text": t.text,
        "author_id": X_USERS[t.author].id,
        "created_at": t.when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conversation_id": t.conversation,
        "lang": t.lang,
        "public_metrics": metrics,
        "edit_history_tweet_ids": [t.id],
    }
    entities = tweet_entities(t.text)
    if entities:
        payload["entities"] = entities
    refs = [("replied_to", t.reply_to), ("quoted", t.quote_of), ("retweeted", t.rt_of)]
    refs = [{"type": kind, "id": tweets[key].id} for kind, key in refs if key]
    if refs:
        payload["referenced_tweets"] = refs
    if t.reply_to:
        payload["in_reply_to_user_id"] = X_USERS[tweets[t.reply_to].author].id
    return payload


def public_rts(t: Tweet, tweets: dict[str, Tweet]) -> int:
    return max(t.rts, sum(1 for o in tweets.values() if o.rt_of == t.key))


def tweet_entities(text: str) -> dict:
    entities: dict[str, list] = {}
    for m in re.finditer(r"(?<![\w@])@(\w{1,15})", text):
        user = X_USERS.get(m.group(1).lower())
        if user:
            entities.setdefault("mentions", []).append(
                {"start": m.start(), "end": m.end(), "username": user.handle, "id": user.id}
            )
    for m in re.finditer(r"https://[^\s]+", text):
        url = m.group(0)
        entities.setdefault("urls", []).append(
            {
                "start": m.start(),
                "end": m.end(),
                "url": url,
                "expanded_url": url,
                "display_url": url.removeprefix("https://")[:26] + ("…" if len(url) > 34 else ""),
            }
        )
    return entities


def x_response(data: list[Tweet], tweets: dict[str, Tweet], next_token: str | None, previous_token: str | None) -> dict:
    data = sorted(data, key=lambda t: int(t.id), reverse=True)
    body: dict = {"data": [tweet_payload(t, tweets) for t in data]}
    referenced: list[Tweet] = []
    for t in data:
        for key in (t.reply_to, t.quote_of, t.rt_of):
            if key and tweets[key] not in referenced:
                referenced.append(tweets[key])
    users: list[str] = []
    for item in body["data"] + [tweet_payload(r, tweets) for r in referenced]:
        wanted = [item["author_id"], item.get("in_reply_to_user_id")]
        wanted += [m["id"] for m in item.get("entities", {}).get("mentions", [])]
        users += [u for u in wanted if u and u not in users]
    by_id = {u.id: u for u in X_USERS.values()}
    body["includes"] = {"users": [by_id[u].payload() for u in users]}
    if referenced:
        body["includes"]["tweets"] = [tweet_payload(r, tweets) for r in referenced]
    meta = {"newest_id": data[0].id, "oldest_id": data[-1].id, "result_count": len(data)}
    if next_token:
        meta["next_token"] = next_token
    if previous_token:
        meta["previous_token"] = previous_token
    body["meta"] = meta
    return body


def x_exchange(path: str, params: list[tuple[str, str]], body: dict, served: int) -> dict:
    return {
        "request": {
            "method": "GET",
            "uri": f"{X_API}{path}?{urlencode(params)}",
            "body": None,
            "headers": {"User-Agent": ["Python/3.12.3 Requests/2.32.3 Tweepy/4.17.0"]},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "content-type": ["application/json; charset=utf-8"],
                "date": [served_date(served)],
                "x-rate-limit-limit": ["450"],
                "x-rate-limit-remaining": [str(449 - served)],
                "x-rate-limit-reset": [str(int(RECORDED_AT.timestamp()) + 900)],
            },
            "body": {"string": json.dumps(body, ensure_ascii=False)},
        },
    }


def matches(text: str, words: list[str], minus: list[str] = ()) -> bool:
    low = text.lower()
    if any(m in low for m in minus):
        return False
    return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", low) for w in words)


# The default queries, as connectors.x.default_queries builds them from demo.toml.
X_SEARCHES = [
    ('(acme OR "acme coffee") -"acme anvil"', ["acme", "acme coffee"], ["acme anvil"], 2),
    ("globex", ["globex"], [], 1),
    ("initech", ["initech"], [], 1),
]


def build_x() -> tuple[list[dict], dict[str, int]]:
    tweets = x_layout()
    acme = X_USERS["acme"]
    common = [
        ("expansions", EXPANSIONS),
        ("tweet.fields", TWEET_FIELDS),
        ("user.fields", USER_FIELDS),
        ("max_results", "100"),
    ]
    exchanges: list[dict] = []
    counts: dict[str, int] = {}

    def paged(path: str, first: list[tuple[str, str]], hits: list[Tweet], pages: int, token_param: str) -> None:
        hits = sorted(hits, key=lambda t: int(t.id), reverse=True)
        size = -(-len(hits) // pages)
        chunks = [hits[i : i + size] for i in range(0, len(hits), size)]
        page_token = previous = None
        for number, chunk in enumerate(chunks):
            nxt = token(path, first, number) if number + 1 < len(chunks) else None
            params = list(first) + common + ([(token_param, page_token)] if page_token else [])
            body = x_response(chunk, tweets, nxt, previous)
            exchanges.append(x_exchange(path, params, body, len(exchanges)))
            # User timelines also name the way back; search pages do not.
            previous = token("prev", path, first, number) if token_param == "pagination_token" else None
            page_token = nxt

    for query, words, minus, pages in X_SEARCHES:
        hits = [t for t in tweets.values() if SEARCH_SINCE <= t.when < RECORDED_AT and matches(t.text, words, minus)]
        counts[f"search:{query}"] = len(hits)
        paged("/tweets/search/recent", [("query", query)], hits, pages, "next_token")
    exchanges.append(
        x_exchange(
            "/users/by",
            [("usernames", "acme"), ("user.fields", USER_FIELDS)],
            {"data": [acme.payload()]},
            len(exchanges),
        )
    )
    mentions = [t for t in tweets.values() if t.author != "acme" and re.search(r"(?<![\w@])@acme(?!\w)", t.text, re.I)]
    counts["mentions:acme"] = len(mentions)
    paged(f"/users/{acme.id}/mentions", [], mentions, 2, "pagination_token")
    own = [t for t in tweets.values() if t.author == "acme"]
    counts["posts:acme"] = len(own)
    paged(f"/users/{acme.id}/tweets", [], own, 2, "pagination_token")
    counts["unique"] = len({t.key for t in tweets.values()})
    return exchanges, counts


# =============================================================================
# Reddit
# =============================================================================

REDDIT_WWW = "https://www.reddit.com"
REDDIT_OAUTH = "https://oauth.reddit.com"
SUBREDDITS = {  # display name -> (id, subscribers)
    "Coffee": ("t5_2qhze", 1934120),
    "espresso": ("t5_2r7sk", 712480),
    "ColdBrew": ("t5_2yv9m", 61240),
    "Millbrook": ("t5_3kq2c", 18730),
    "Frugal": ("t5_2qhbe", 2104550),
    "BuyItForLife": ("t5_2ss1q", 3120980),
    "baristas": ("t5_2s6ko", 132870),
    "gadgets": ("t5_2qgzt", 21450230),
}
OWN_REDDIT = "acme_official"


@dataclass
class RPost:
    key: str
    sub: str
    author: str
    when: datetime
    title: str
    text: str
    score: int
    flair: str | None = None
    link: str | None = None  # a link post's URL (example.com)
    extra_comments: int = 0
    id: str = ""
    comments: list[RComment] = field(default_factory=list)


@dataclass
class RComment:
    key: str
    parent: str
    author: str
    when: datetime
    body: str
    score: int
    id: str = ""
    post: RPost | None = None


STORY_REDDIT: list[RPost | RComment] = []


def submission(key, sub, author, when, title, text, score, flair=None, link=None, more=0):
    STORY_REDDIT.append(RPost(key, sub, author, at(when), title, text, score, flair, link, more))


def comment(key, parent, author, when, body, score):
    STORY_REDDIT.append(RComment(key, parent, author, at(when), body, score))


# -- r/espresso ------------------------------------------------------------------------
submission(
    "e_house",
    "espresso",
    "dialed_in_dot",
    "09-30 14:20",
    "Acme House Blend as espresso: fine in milk, flat as a straight shot",
    "Grocery store only had Acme and Globex beans. Acme House Blend pulls a chocolatey, low-acid shot that is great in a flat white and a bit one-note on its own. Check the roast date, the grocery bags are old.",
    34,
    "Discussion",
    more=6,
)
submission(
    "e_burrpro",
    "espresso",
    "flatburr_fern",
    "10-03 17:05",
    "Initech Burr Pro first impressions: 64mm flats, almost zero retention",
    "Picked up the Initech Burr Pro at the trade-show price. Grind consistency for espresso is excellent and retention is basically zero with the bellows. It is loud. I do not care.",
    88,
    "Gear",
    more=14,
)
submission(
    "e_tease",
    "espresso",
    "crema_cartographer",
    "10-08 19:30",
    "Acme is teasing an Oct 20 'heavy and shiny' thing. Home espresso machine?",
    "Their blog says it's heavy, shiny and makes espresso. If it's under $600 with a proper 58mm portafilter I'm in. If it's pods I will scream.",
    156,
    "Discussion",
    more=41,
)
submission(
    "e_wdt",
    "espresso",
    "wdt_wanda",
    "10-12 10:45",
    "Finally fixed my channeling: WDT and a puck screen",
    "Three weeks of sour, gushing shots. A WDT tool and a puck screen fixed it in a day. Posting in case it helps another beginner.",
    61,
    "Tips",
    more=9,
)
submission(
    "e_ama",
    "espresso",
    OWN_REDDIT,
    "10-20 13:05",
    "We're Acme, and today we launched the Caldera, our first espresso machine. Ask us anything.",
    "Hi r/espresso! The Acme Caldera is out today: PID-controlled 1.2 L brass boiler, standard 58mm portafilter, a steam wand that makes real microfoam, $549. Our engineers and the espresso team are here all afternoon. Ask away.",
    412,
    "AMA",
    more=120,
)
submission(
    "e_out",
    "espresso",
    "portafilter_pilot",
    "10-20 13:40",
    "ACME CALDERA: PID, 58mm, $549. It's not pods!",
    "It's not pods!!! Real 58mm portafilter, PID, proper steam wand. Acme actually did it. Launch page: https://acme.example.com/caldera",
    640,
    "News",
    more=180,
)
submission(
    "e_duo",
    "espresso",
    "bottomless_basket",
    "10-22 16:10",
    "Initech dropped the Duo to $399 two days after the Caldera launch. Coincidence?",
    "Initech calls it a seasonal promotion. For people who have used both the Duo and the new Acme machine: is the Caldera worth $150 more?",
    203,
    "Discussion",
    more=57,
)
submission(
    "e_week1",
    "espresso",
    "crema_cartographer",
    "10-24 18:00",
    "Caldera first week: excellent shots, loud pump, rattly drip tray",
    "A week with the Acme Caldera. Shots are excellent and repeatable, temperature is rock steady, steam is strong. The pump is loud during pre-infusion and the drip tray rattles. Great machine with two annoying flaws.",
    289,
    "Review",
    more=64,
)
submission(
    "e_used",
    "espresso",
    "[deleted]",
    "10-31 09:15",
    "Caldera or a used single boiler from marketplace?",
    "Budget is around $550. New Acme Caldera or a used single boiler plus a better grinder? Mostly milk drinks.",
    17,
    "Question",
    more=11,
)
submission(
    "e_art",
    "espresso",
    "steamwand_sally",
    "11-04 20:30",
    "Latte art progress on my Acme Caldera, week two",
    "Week one was blobs. Week two is... recognisable blobs. The steam wand on the Caldera is great once you learn to keep the tip just under the surface.",
    142,
    "Latte Art",
    more=23,
)
submission(
    "e_pods",
    "espresso",
    "globex_pod_refugee",
    "11-07 15:45",
    "Moving from a Globex PodStar to real espresso: what did I get myself into",
    "Five years of Globex pods. Bought a machine, a grinder, a scale, a tamper, a WDT tool. My counter is full and my shots are sour. Tell me it gets better.",
    77,
    "Question",
    more=31,
)
submission(
    "e_pm",
    "espresso",
    "flatburr_fern",
    "11-17 19:10",
    "Acme's post-mortem on the burnt cold brew is a good read on roast QC",
    "A drifting thermocouple, a roaster running hot, and a lab that cupped the lots hot instead of as cold brew. Worth reading if you care about roast QC: https://blog.acme.example.com/2026/11/what-went-wrong",
    95,
    "Discussion",
    more=18,
)
submission(
    "e_fw",
    "espresso",
    "dialed_in_dot",
    "11-20 16:30",
    "Caldera firmware 1.2: pre-infusion is much quieter",
    "Updated this morning. The Acme Caldera pump is noticeably quieter during pre-infusion and steam comes up faster. Drip tray sensor also stopped crying wolf.",
    118,
    "Gear",
    more=16,
)
submission(
    "e_beginner",
    "espresso",
    "wdt_wanda",
    "11-21 12:00",
    "Initech Duo at $399 vs Acme Caldera at $549 for a beginner, November edition",
    "Helping a friend choose. The Initech Duo is $399 now, the Caldera $549. Is the Caldera still worth the difference for a beginner who mostly drinks lattes?",
    64,
    "Question",
    more=28,
)

comment(
    "e_ama_c1",
    "e_ama",
    "portafilter_pilot",
    "10-20 13:20",
    "Is it a standard 58mm so my existing baskets, tamper and puck screens fit?",
    88,
)
comment(
    "e_ama_r1",
    "e_ama_c1",
    OWN_REDDIT,
    "10-20 13:31",
    "Yes, standard 58mm. Your baskets, tamper and puck screens will fit.",
    142,
)
comment("e_ama_c2", "e_ama", "bottomless_basket", "10-20 13:40", "Boiler size and heat-up time?", 54)
comment(
    "e_ama_r2",
    "e_ama_c2",
    OWN_REDDIT,
    "10-20 13:52",
    "1.2 L brass boiler with PID. Ready for the first shot in under 30 seconds, about 90 seconds for full steam.",
    97,
)
comment("e_ama_c3", "e_ama", "flatburr_fern", "10-20 14:05", "Any plans for Europe?", 41)
comment(
    "e_ama_r3", "e_ama_c3", OWN_REDDIT, "10-20 14:20", "2027. We want to get support right in North America first.", 60
)
comment(
    "e_ama_c5",
    "e_ama",
    "steamwand_sally",
    "10-20 15:10",
    "Just ordered one. Most excited I've been about a machine in years!",
    58,
)
comment(
    "e_ama_c4", "e_ama", "crema_cartographer", "10-20 14:35", "The launch video sounds loud. How loud is the pump?", 77
)
comment(
    "e_ama_r4",
    "e_ama_c4",
    OWN_REDDIT,
    "10-20 14:50",
    "It's a vibration pump, so it's audible, especially during pre-infusion. We're already working on a softer pre-infusion ramp in firmware.",
    83,
)
comment(
    "e_out_c1",
    "e_out",
    "ristretto_rex",
    "10-20 14:02",
    "Oh wow, a $549 espresso machine that needs a $300 grinder. Truly revolutionary. 🙃",
    -12,
)
comment(
    "e_out_c2",
    "e_out_c1",
    "portafilter_pilot",
    "10-20 14:15",
    "A $549 machine with a 58mm portafilter and PID. Name another one at that price.",
    64,
)
comment(
    "e_out_c4",
    "e_out",
    "dialed_in_dot",
    "10-20 15:30",
    "This is amazing news. Finally a real machine at a sane price.",
    91,
)
comment("e_out_c3", "e_out_c1", "[deleted]", "10-20 14:40", "[deleted]", 3)
comment(
    "e_week1_c1",
    "e_week1",
    "steamwand_sally",
    "10-24 19:10",
    "A felt pad under the drip tray fixes the rattle. Ugly but it works.",
    45,
)
comment(
    "e_week1_c2",
    "e_week1",
    OWN_REDDIT,
    "10-24 21:00",
    "Thanks for the honest write-up. A firmware update with a softer pre-infusion is coming next month, and we'll send a new drip tray to anyone who asks.",
    102,
)
comment(
    "e_used_c1",
    "e_used",
    "dialed_in_dot",
    "10-31 10:02",
    "The Caldera's PID alone is worth it over an old single boiler. Less temperature surfing, more coffee.",
    12,
)
comment("e_art_c1", "e_art", "portafilter_pilot", "11-04 21:10", "That last one is a heart! A confident heart.", 22)
comment(
    "e_pods_c1",
    "e_pods",
    "wdt_wanda",
    "11-07 16:30",
    "It gets better. Budget for a good grinder first, everything else second.",
    31,
)
comment(
    "e_pm_c1",
    "e_pm",
    "bottomless_basket",
    "11-17 20:05",
    "Tasting the lots hot instead of as cold brew is such a classic QC miss. Glad they owned it.",
    27,
)
comment(
    "e_pm_c2",
    "e_pm",
    "ristretto_rex",
    "11-17 20:40",
    "Doesn't un-burn my cold brew, but fine, it's a good write-up.",
    9,
)
comment(
    "e_fw_c1",
    "e_fw",
    "crema_cartographer",
    "11-20 17:10",
    "Confirmed, mine is way quieter. u/acme_official kept their promise from the launch AMA.",
    38,
)
comment(
    "e_fw_c2",
    "e_fw_c1",
    OWN_REDDIT,
    "11-20 18:00",
    "We did say we'd shout when it was out. 📣 Enjoy the quiet mornings.",
    44,
)
comment(
    "e_beginner_c1",
    "e_beginner",
    "flatburr_fern",
    "11-21 12:40",
    "Caldera if you can stretch. The Duo's thermoblock temperature swings drive beginners nuts.",
    19,
)

# -- r/Coffee --------------------------------------------------------------------------------
submission(
    "c_blind",
    "Coffee",
    "pourover_penn",
    "09-29 18:00",
    "Blind taste test: Acme Cold Brew Original vs Globex Cold Brew Black",
    "Eight friends, same glasses, straight from the fridge. Five preferred Acme (smoother, more chocolatey), three preferred Globex (brighter but thin). Nobody could tell which was which until we revealed.",
    212,
    "Discussion",
    more=48,
)
submission(
    "c_icd",
    "Coffee",
    "frugal_filter",
    "10-01 11:00",
    "International Coffee Day freebies: Acme free refills, Globex BOGO after 2pm",
    "Acme is doing a free drip or cold brew refill in any cup. Globex has buy-one-get-one on handcrafted drinks after 2pm in the app. Add others below.",
    98,
    "Deals",
    more=22,
)
submission(
    "c_burrs",
    "Coffee",
    "grinder_grief",
    "10-06 17:30",
    "Acme is replacing early Mill 2 burrs for free. Took 5 minutes to file.",
    "After my thread about dull burrs: Acme posted a burr replacement program today. Filed the form, confirmation in ten minutes, parts ship Friday. Credit where it's due.",
    143,
    "News",
    more=19,
)
submission(
    "c_app",
    "Coffee",
    "moka_mateo",
    "10-14 08:50",
    "Globex app logged me out at the register again",
    "Third time this week the Globex app logged me out right as I was paying. Six people behind me. Not great, Globex.",
    45,
    "Rant",
    more=12,
)
submission(
    "c_stars",
    "Coffee",
    "oat_latte_olu",
    "10-29 14:30",
    "Acme Rewards update zeroed my stars??",
    "Updated the Acme app this morning and my 840 stars show as 0. Support chat says it's a display issue. It better be.",
    67,
    "Question",
    more=15,
)
submission(
    "c_v60",
    "Coffee",
    "pourover_penn",
    "11-03 09:15",
    "What grind size are you using for a 20 g V60?",
    "Medium-fine on most grinders for me, but my draw-down is taking over four minutes. Coarser? Different pour?",
    31,
    "Question",
    more=27,
)
submission(
    "c_burnt",
    "Coffee",
    "coldbrew_corinne",
    "11-09 23:55",
    "Anyone else's Acme Cold Brew suddenly taste burnt?",
    "Two bottles of Acme Cold Brew Original today and both taste awful: burnt and bitter, as if it sat on a hot plate all day. This is my daily drink and it has never tasted this bad. Anyone else??",
    388,
    "Question",
    more=212,
)
submission(
    "c_lots",
    "Coffee",
    "lot_number_larkin",
    "11-10 10:20",
    "Post your Acme Cold Brew lot numbers here (burnt taste)",
    "Lot number is printed on the neck. Post the lot, where you bought it and the best-by date, so we can see how bad this is. Mine: CB26-300, best by 02/16/2027, Millbrook. Burnt and bitter, awful. Tagging u/acme_official in case anyone there reads this.",
    451,
    "Discussion",
    more=260,
)
submission(
    "c_psa",
    "Coffee",
    "steamed_stella",
    "11-10 13:50",
    "PSA: Acme Cold Brew Original is bad right now, don't buy it",
    "Three bottles from two stores, all burnt and bitter. Terrible. Save your money until Acme says what is going on.",
    520,
    "PSA",
    more=96,
)
comment(
    "c_psa_c1", "c_psa", "nitro_nolan", "11-10 14:30", "Ugh. Was about to buy a 4-pack. Thanks for the warning.", 44
)
submission(
    "c_recall",
    "Coffee",
    OWN_REDDIT,
    "11-11 15:10",
    "Official: we're recalling Acme Cold Brew Original lots CB26-298 to CB26-305. Questions welcome.",
    "We're voluntarily recalling Acme Cold Brew Original 32 oz, lots CB26-298 through CB26-305. Independent testing found no safety issue; the coffee was over-roasted and tastes burnt. Full refund, no receipt and no bottle needed: https://acme.example.com/recall. We'll be in this thread all day answering questions.",
    302,
    "Official",
    more=340,
)
submission(
    "c_refund",
    "Coffee",
    "frugal_filter",
    "11-12 13:40",
    "Acme's recall refund hit my card in under 24 hours",
    "Filled in the recall form at lunch yesterday, refund was on my card this morning. Fastest refund I've ever had from anyone. Still annoyed, but that's how you handle it.",
    176,
    "Discussion",
    more=31,
)
submission(
    "c_soldout",
    "Coffee",
    "moka_mateo",
    "11-13 17:25",
    "Globex nitro is sold out everywhere near me now lol",
    "Whole Globex nitro shelf empty, right next to the big gap where the Acme cold brew used to be.",
    88,
    "Discussion",
    more=17,
)
submission(
    "c_why",
    "Coffee",
    OWN_REDDIT,
    "11-17 17:10",
    "What went wrong with the burnt cold brew lots, and what we're changing",
    "The short version: on November 2 a temperature probe on roaster #3 in Millbrook started reading about 12°C low, so the roaster ran hot. Our lab tasted those lots hot, as regular coffee, where the defect hides. From now on every lot is tasted as finished cold brew by us and an outside panel, and anyone on the line can stop it. Full write-up: https://blog.acme.example.com/2026/11/what-went-wrong",
    264,
    "Official",
    more=88,
)
submission(
    "c_steep",
    "Coffee",
    "gadget_gwen",
    "11-17 18:30",
    "Initech Steep 12 launched today, $89. Anyone ordering?",
    "Countertop cold brew maker with gentle agitation, 12 hours instead of 18-24. Timing right after the Acme recall is... interesting.",
    57,
    "Gear",
    more=26,
)
submission(
    "c_back",
    "Coffee",
    "coldbrew_corinne",
    "11-19 17:40",
    "Acme Cold Brew is back and tastes normal again (lot CB26-318)",
    "Grabbed a fresh bottle, lot CB26-318. Smooth, chocolatey, no smoke. Welcome back Acme, my mornings thank you.",
    233,
    "Discussion",
    more=40,
)
submission(
    "c_shelves",
    "Coffee",
    OWN_REDDIT,
    "11-19 15:05",
    "Acme Cold Brew Original is back on shelves. Thank you for your patience.",
    "Fresh bottles are arriving in stores today. Every lot has been tasted cold, by our team and an outside panel. If you filed a recall claim, your free-bottle voucher is in your inbox (check spam, sadly).",
    141,
    "Official",
    more=37,
)
submission(
    "c_reserve",
    "Coffee",
    "oat_latte_olu",
    "11-21 10:10",
    "Globex Holiday Reserve pre-order: worth it?",
    "Globex opened pre-orders for the Holiday Reserve. Has anyone had it before? Is it better as drip or as pods?",
    39,
    "Question",
    more=14,
)

comment(
    "c_blind_c1",
    "c_blind",
    "lot_number_larkin",
    "09-29 19:20",
    "Matches my experience. Acme is smoother, Globex is brighter. Both beat the store brand.",
    25,
)
comment(
    "c_burnt_c1",
    "c_burnt",
    "lot_number_larkin",
    "11-10 00:30",
    "Same. Lot CB26-300 from a grocery store in Millbrook. It's awful, like a campfire.",
    167,
)
comment(
    "c_burnt_c2",
    "c_burnt",
    "oat_latte_olu",
    "11-10 01:10",
    "Thought my fridge was broken. Poured out two bottles. Terrible.",
    98,
)
comment("c_burnt_c3", "c_burnt", "[deleted]", "11-10 02:00", "[deleted]", 12)
comment(
    "c_burnt_c7",
    "c_burnt",
    "pourover_penn",
    "11-10 08:40",
    "Mine too. Worst batch of anything I've bought this year. Disgusting.",
    76,
)
comment(
    "c_burnt_c4",
    "c_burnt",
    "grinder_grief",
    "11-10 12:10",
    "u/acme_official are you reading this? People have been complaining for twelve hours and nothing from you. Not great.",
    240,
)
comment(
    "c_burnt_c5",
    "c_burnt_c4",
    OWN_REDDIT,
    "11-10 14:30",
    "We are, and we're sorry. We've tasted it too and we've paused all Cold Brew Original shipments while we find out why. Please keep your bottle or note the lot number.",
    311,
)
comment(
    "c_burnt_c6",
    "c_burnt_c5",
    "coldbrew_corinne",
    "11-10 15:05",
    "Thank you for finally saying something. Lot CB26-299 here.",
    87,
)
comment(
    "c_lots_c1",
    "c_lots",
    "pourover_penn",
    "11-10 11:00",
    "CB26-303, bought Saturday. Burnt and sour, poured it down the sink.",
    54,
)
comment(
    "c_lots_c2",
    "c_lots",
    "moka_mateo",
    "11-10 11:45",
    "CB26-302 and CB26-304 from two different stores, so it's not one shop storing it wrong.",
    73,
)
comment(
    "c_lots_c3", "c_lots", "frugal_filter", "11-10 13:15", "CB26-305. Disgusting. I'm done with Acme cold brew.", 41
)
comment(
    "c_lots_c5",
    "c_lots",
    "oat_latte_olu",
    "11-10 16:30",
    "CB26-298. Same awful smoky taste. Like u/lot_number_larkin said, it's every store.",
    48,
)
comment(
    "c_lots_c4",
    "c_lots",
    OWN_REDDIT,
    "11-10 18:40",
    "Thank you all, this list genuinely helped us narrow it down. An update is coming tomorrow.",
    206,
)
comment("c_recall_c1", "c_recall", "moka_mateo", "11-11 15:30", "Do I need to bring the bottle back to the store?", 45)
comment(
    "c_recall_r1",
    "c_recall_c1",
    OWN_REDDIT,
    "11-11 15:42",
    "No. Pour it out (sorry) and use the form; no bottle or receipt needed.",
    120,
)
comment(
    "c_recall_c2",
    "c_recall",
    "cafe_quemado",
    "11-11 16:05",
    "¿Se puede pedir el reembolso desde fuera de EE. UU.? Lo compré en un viaje a Texas.",
    23,
)
comment(
    "c_recall_r2",
    "c_recall_c2",
    OWN_REDDIT,
    "11-11 16:20",
    '¡Sí! The form works from anywhere: choose "outside the US" and we\'ll refund to your card.',
    51,
)
comment(
    "c_recall_c3",
    "c_recall",
    "oat_latte_olu",
    "11-11 17:00",
    "Is the Vanilla affected? Mine tastes a little smoky too.",
    38,
)
comment(
    "c_recall_r3",
    "c_recall_c3",
    OWN_REDDIT,
    "11-11 17:15",
    "Vanilla isn't in the recalled lots, but if yours tastes wrong, use the same form and we'll refund it.",
    64,
)
comment(
    "c_recall_c4",
    "c_recall",
    "ristretto_rex",
    "11-11 18:30",
    "This is the second Acme quality problem this year. Grinders in the spring, now this. I'm out.",
    29,
)
comment(
    "c_recall_c6",
    "c_recall",
    "grinder_grief",
    "11-11 20:10",
    "The no-receipt refund is the right call. The day of silence before it was bad, though.",
    36,
)
comment("c_recall_c5", "c_recall_c4", "[deleted]", "11-11 19:00", "[deleted]", 2)
comment(
    "c_refund_c1",
    "c_refund",
    "grinder_grief",
    "11-12 14:20",
    "Same here, refund was fast. Still annoyed, but that's how you handle it.",
    33,
)
comment(
    "c_why_c1",
    "c_why",
    "lot_number_larkin",
    "11-17 18:00",
    "So the lab tasted it hot. That explains everything. Good write-up.",
    91,
)
comment(
    "c_why_c2", "c_why", "coldbrew_corinne", "11-17 18:40", "Appreciate that you credited the bottling line folks.", 57
)
comment("c_why_c3", "c_why_c2", OWN_REDDIT, "11-17 19:00", "They deserved it. They noticed first.", 140)
comment(
    "c_steep_c1", "c_steep", "pourover_penn", "11-17 19:15", "A mason jar does the same thing for $5, but sure.", 40
)
comment(
    "c_back_c1",
    "c_back",
    "lot_number_larkin",
    "11-19 18:30",
    "Confirmed, CB26-318 tastes right again. Welcome back.",
    35,
)
comment(
    "c_shelves_c1",
    "c_shelves",
    "frugal_filter",
    "11-19 16:10",
    "Voucher came through. It was in spam, as promised.",
    28,
)
comment(
    "c_shelves_c2", "c_shelves_c1", OWN_REDDIT, "11-19 16:30", "Spam filters, our nemesis. Enjoy the free bottle!", 61
)
comment("c_reserve_c1", "c_reserve", "moka_mateo", "11-21 11:00", "Last year's was great as drip, meh as pods.", 11)

# -- elsewhere on Reddit (reached only through search) ---------------------------------------------------
submission(
    "o_burrpro",
    "gadgets",
    "spec_sheet_sid",
    "09-30 16:40",
    "Initech unveils the Burr Pro grinder with 64mm flat burrs",
    "",
    1240,
    None,
    link="https://cremawire.example.com/2026/09/initech-burr-pro",
    more=210,
)
submission(
    "o_mill2",
    "BuyItForLife",
    "grinder_grief",
    "10-02 20:15",
    "Acme Mill 2: second motor in 16 months. Not BIFL.",
    "Acme support replaced the motor for free, twice, which is nice. But a grinder should not need two motors in 16 months.",
    386,
    "Review",
    more=77,
)
submission(
    "o_unions",
    "baristas",
    "steamed_stella",
    "10-26 12:30",
    "Baristas at three Globex stores voted to unionize",
    "First Globex locations to do it. Scheduling and weekend staffing were the big issues where I work too.",
    920,
    "News",
    more=130,
)
submission(
    "o_anvil",
    "Millbrook",
    "millbrook_mel",
    "10-29 15:00",
    "Cartoon night at the library Friday: Acme anvil trivia and hot cocoa",
    "Classic coyote-and-roadrunner shorts from 6pm, costume contest, and Acme anvil trivia. Free.",
    46,
    "Events",
    more=5,
)
submission(
    "o_elm",
    "Millbrook",
    "millbrook_mel",
    "11-10 16:45",
    "Elm Street market pulled all the Acme cold brew",
    "Cooler is empty, sign says they're waiting on Acme. Half the town is complaining it tastes burnt.",
    133,
    "Local News",
    more=29,
)
submission(
    "o_meantime",
    "ColdBrew",
    "nitro_nolan",
    "11-12 11:20",
    "With the Acme recall, what are you drinking in the meantime?",
    "Globex nitro is fine but sweet. Making my own in a jar this week. Recommendations?",
    204,
    "Discussion",
    more=63,
)
submission(
    "o_points",
    "Frugal",
    "frugal_filter",
    "11-16 09:30",
    "Globex Rewards double points all week, stack it with the Friday BOGO",
    "If you drink Globex anyway, this week is the week. Double points on everything, and BOGO on Friday after 2pm.",
    158,
    None,
    more=24,
)
submission(
    "o_popup",
    "Millbrook",
    "millbrook_mel",
    "11-18 18:10",
    "Initech pop-up at the mall has free cold brew tastings",
    "Second floor, through Dec 31. The Steep 12 cold brew is honestly good and the Duo espresso demos are fun.",
    58,
    "Local News",
    more=8,
)
submission(
    "o_steep",
    "ColdBrew",
    "gadget_gwen",
    "11-20 20:00",
    "Initech Steep 12 after three batches: smooth, but the filter basket is fiddly",
    "Makes genuinely smooth cold brew in 12 hours. Cleaning the filter basket is the only annoying part.",
    77,
    "Gear",
    more=19,
)

REDDIT_SEARCHES = [  # connectors.reddit.search_queries for demo.toml, with the words each matches
    ('(acme OR "acme coffee")', ["acme", "acme coffee"], 2),
    ("globex", ["globex"], 1),
    ("initech", ["initech"], 1),
]


def reddit_layout() -> tuple[dict[str, RPost], dict[str, RComment]]:
    posts = {p.key: p for p in STORY_REDDIT if isinstance(p, RPost)}
    comments = {c.key: c for c in STORY_REDDIT if isinstance(c, RComment)}
    assert len(posts) + len(comments) == len(STORY_REDDIT), "duplicate keys"
    start = at("09-01 00:00")
    for p in posts.values():
        p.comments = []
        assert p.sub in SUBREDDITS, p.sub
        p.id = base36(int("1p8a000", 36) + int((p.when - start).total_seconds() // 60))
    for c in sorted(comments.values(), key=lambda c: (c.when, c.key)):
        parent = comments.get(c.parent) or posts[c.parent]
        assert parent.when < c.when, c.key
        c.post = parent if isinstance(parent, RPost) else parent.post
        c.post.comments.append(c)
        c.id = base36(int("n9k0000", 36) + int((c.when - start).total_seconds() // 60) * 7 + digest(c.key) % 7)
    ids = [p.id for p in posts.values()] + [c.id for c in comments.values()]
    assert len(set(ids)) == len(ids), "id collision"
    return posts, comments


def slug(title: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", "", title.lower()).split()
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > 50:
            break
        out = f"{out}_{word}" if out else word
    return out


def md_html(text: str) -> str:
    return f'<div class="md"><p>{html.escape(text, quote=False)}</p>\n</div>'


def author_fields(name: str) -> dict:
    if name == "[deleted]":
        return {
            "author": "[deleted]",
            "author_flair_background_color": None,
            "author_flair_css_class": None,
            "author_flair_richtext": [],
            "author_flair_template_id": None,
            "author_flair_text": None,
            "author_flair_text_color": None,
            "author_flair_type": "text",
        }
    return {
        "author": name,
        "author_fullname": "t2_" + base36(digest("reddit-user", name) % 36**8, 8),
        "author_flair_background_color": None,
        "author_flair_css_class": None,
        "author_flair_richtext": [],
        "author_flair_template_id": None,
        "author_flair_text": "Official" if name == OWN_REDDIT else None,
        "author_flair_text_color": "dark" if name == OWN_REDDIT else None,
        "author_flair_type": "text",
        "author_is_blocked": False,
        "author_patreon_flair": False,
        "author_premium": False,
    }


def post_payload(p: RPost) -> dict:
    sub_id, subscribers = SUBREDDITS[p.sub]
    permalink = f"/r/{p.sub}/comments/{p.id}/{slug(p.title)}/"
    created = float(int(p.when.timestamp()))
    data = {
        "approved_at_utc": None,
        "subreddit": p.sub,
        "selftext": p.text,
        "saved": False,
        "gilded": 0,
        "clicked": False,
        "title": p.title,
        "link_flair_richtext": [],
        "subreddit_name_prefixed": f"r/{p.sub}",
        "hidden": False,
        "pwls": 6,
        "link_flair_css_class": None,
        "downs": 0,
        "hide_score": False,
        "name": f"t3_{p.id}",
        "quarantine": False,
        "link_flair_text_color": "dark",
        "upvote_ratio": round(0.99 - digest("ratio", p.key) % 23 / 100, 2),
        "subreddit_type": "public",
        "ups": p.score,
        "total_awards_received": 0,
        "media_embed": {},
        "is_original_content": False,
        "user_reports": [],
        "secure_media": None,
        "is_reddit_media_domain": False,
        "is_meta": False,
        "category": None,
        "secure_media_embed": {},
        "link_flair_text": p.flair,
        "can_mod_post": False,
        "score": p.score,
        "approved_by": None,
        "is_created_from_ads_ui": False,
        "thumbnail": "self" if not p.link else "default",
        "edited": False,
        "gildings": {},
        "content_categories": None,
        "is_self": not p.link,
        "mod_note": None,
        "created": created,
        "link_flair_type": "text",
        "wls": 6,
        "removed_by_category": None,
        "banned_by": None,
        "domain": f"self.{p.sub}" if not p.link else p.link.split("/")[2],
        "allow_live_comments": False,
        "selftext_html": f"<!-- SC_OFF -->{md_html(p.text)}<!-- SC_ON -->" if p.text else None,
        "likes": None,
        "suggested_sort": "qa" if p.flair == "AMA" else None,
        "banned_at_utc": None,
        "view_count": None,
        "archived": False,
        "no_follow": p.score < 5,
        "is_crosspostable": False,
        "pinned": False,
        "over_18": False,
        "all_awardings": [],
        "awarders": [],
        "media_only": False,
        "can_gild": False,
        "spoiler": False,
        "locked": False,
        "treatment_tags": [],
        "visited": False,
        "removed_by": None,
        "num_reports": None,
        "distinguished": None,
        "subreddit_id": sub_id,
        "mod_reason_by": None,
        "removal_reason": None,
        "link_flair_background_color": "",
        "id": p.id,
        "is_robot_indexable": True,
        "report_reasons": None,
        "discussion_type": None,
        "num_comments": len(p.comments) + p.extra_comments,
        "send_replies": True,
        "contest_mode": False,
        "mod_reports": [],
        "permalink": permalink,
        "stickied": False,
        "url": p.link or f"{REDDIT_WWW}{permalink}",
        "subreddit_subscribers": subscribers,
        "created_utc": created,
        "num_crossposts": 0,
        "media": None,
        "is_video": False,
    }
    data.update(author_fields(p.author))
    return {"kind": "t3", "data": data}


def comment_payload(c: RComment, comments: dict[str, RComment]) -> dict:
    p = c.post
    sub_id, _ = SUBREDDITS[p.sub]
    link_permalink = f"{REDDIT_WWW}/r/{p.sub}/comments/{p.id}/{slug(p.title)}/"
    parent = comments.get(c.parent)
    created = float(int(c.when.timestamp()))
    data = {
        "subreddit_id": sub_id,
        "approved_at_utc": None,
        "comment_type": None,
        "link_title": p.title,
        "mod_reason_by": None,
        "banned_by": None,
        "ups": c.score,
        "num_reports": None,
        "total_awards_received": 0,
        "subreddit": p.sub,
        "link_author": p.author,
        "likes": None,
        "replies": "",
        "user_reports": [],
        "saved": False,
        "id": c.id,
        "banned_at_utc": None,
        "mod_reason_title": None,
        "gilded": 0,
        "archived": False,
        "collapsed_reason_code": None,
        "no_follow": c.score < 5,
        "num_comments": len(p.comments) + p.extra_comments,
        "can_mod_post": False,
        "send_replies": True,
        "parent_id": f"t1_{parent.id}" if parent else f"t3_{p.id}",
        "score": c.score,
        "over_18": False,
        "report_reasons": None,
        "removal_reason": None,
        "approved_by": None,
        "controversiality": 1 if c.score < 0 else 0,
        "body": c.body,
        "edited": False,
        "top_awarded_type": None,
        "downs": 0,
        "is_submitter": c.author == p.author and c.author != "[deleted]",
        "collapsed": c.score < -5,
        "body_html": md_html(c.body),
        "gildings": {},
        "collapsed_reason": None,
        "distinguished": None,
        "associated_award": None,
        "stickied": False,
        "can_gild": False,
        "link_id": f"t3_{p.id}",
        "unrepliable_reason": None,
        "score_hidden": False,
        "permalink": f"/r/{p.sub}/comments/{p.id}/{slug(p.title)}/{c.id}/",
        "subreddit_type": "public",
        "link_permalink": link_permalink,
        "name": f"t1_{c.id}",
        "subreddit_name_prefixed": f"r/{p.sub}",
        "treatment_tags": [],
        "created": created,
        "created_utc": created,
        "awarders": [],
        "all_awardings": [],
        "locked": False,
        "collapsed_because_crowd_control": None,
        "mod_reports": [],
        "quarantine": False,
        "mod_note": None,
        "link_url": p.link or link_permalink,
    }
    data.update(author_fields(c.author))
    return {"kind": "t1", "data": data}


def reddit_exchange(method: str, uri: str, body: dict, served: int, auth: str) -> dict:
    headers = {
        "Content-Type": ["application/json; charset=UTF-8"],
        "Date": [served_date(served)],
        "Server": ["snooserv"],
    }
    if method == "GET":
        headers.update(
            {
                "Cache-Control": ["private, s-maxage=0, max-age=0, must-revalidate, no-store"],
                "x-ratelimit-remaining": [f"{599.0 - served:.1f}"],
                "x-ratelimit-used": [str(served + 1)],
                "x-ratelimit-reset": ["300"],
            }
        )
    request_headers = {
        "Accept": ["*/*"],
        "Accept-Encoding": ["gzip, deflate"],
        "Authorization": [auth],
        "Connection": ["close" if method == "POST" else "keep-alive"],
        "User-Agent": ["listener-demo/0.1 (offline replay) PRAW/8.0.3 prawcore/4.0.0"],
    }
    request = {"body": None, "method": method, "uri": uri, "headers": request_headers}
    if method == "POST":
        request["body"] = "grant_type=client_credentials"
        request_headers.update({"Content-Length": ["29"], "Content-Type": ["application/x-www-form-urlencoded"]})
    return {
        "request": request,
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": headers,
            "body": {"string": json.dumps(body, ensure_ascii=False)},
            "url": uri.split("?")[0],
        },
    }


def build_reddit() -> tuple[list[dict], dict[str, int]]:
    posts, comments = reddit_layout()
    exchanges = [
        reddit_exchange(
            "POST",
            f"{REDDIT_WWW}/api/v1/access_token",
            {"access_token": "<ACCESS_TOKEN>", "token_type": "bearer", "expires_in": 86400, "scope": "*"},
            0,
            "Basic <BASIC_AUTH>",
        )
    ]
    counts: dict[str, int] = {}

    def listing(path: str, params: list[tuple[str, str]], items: list[RPost | RComment], pages: int, key: str) -> None:
        items = sorted(items, key=lambda i: (i.when, i.id), reverse=True)
        counts[key] = len(items)
        size = max(1, -(-len(items) // pages))
        chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        after = None
        for chunk in chunks:
            children = [post_payload(i) if isinstance(i, RPost) else comment_payload(i, comments) for i in chunk]
            last = chunk is chunks[-1]
            nxt = None if last else children[-1]["data"]["name"]
            query = list(params) + [("limit", "100")] + ([("after", after)] if after else []) + [("raw_json", "1")]
            body = {
                "kind": "Listing",
                "data": {
                    "after": nxt,
                    "dist": len(children),
                    "modhash": "",
                    "geo_filter": "",
                    "children": children,
                    "before": None,
                },
            }
            exchanges.append(
                reddit_exchange(
                    "GET", f"{REDDIT_OAUTH}{path}?{urlencode(query)}", body, len(exchanges), "bearer <ACCESS_TOKEN>"
                )
            )
            after = nxt

    for query, words, pages in REDDIT_SEARCHES:
        hits = [p for p in posts.values() if matches(f"{p.title}\n{p.text}", words)]
        listing(
            "/r/all/search/",
            [("q", query), ("restrict_sr", "False"), ("sort", "new"), ("syntax", "lucene"), ("t", "all")],
            hits,
            pages,
            f"search:{query}",
        )
    for sub, pages in (("espresso", 1), ("Coffee", 2)):
        name = sub.lower()
        listing(f"/r/{name}/new", [], [p for p in posts.values() if p.sub == sub], 1, f"r/{name}/new")
        listing(
            f"/r/{name}/comments/", [], [c for c in comments.values() if c.post.sub == sub], pages, f"r/{name}/comments"
        )
    listing(
        f"/user/{OWN_REDDIT}/submitted",
        [("sort", "new")],
        [p for p in posts.values() if p.author == OWN_REDDIT],
        1,
        f"u/{OWN_REDDIT}/submissions",
    )
    listing(
        f"/user/{OWN_REDDIT}/comments",
        [("sort", "new")],
        [c for c in comments.values() if c.author == OWN_REDDIT],
        1,
        f"u/{OWN_REDDIT}/comments",
    )
    counts["unique"] = len(posts) + len(comments)
    return exchanges, counts


# =============================================================================
# The open networks: Bluesky, Mastodon, Hacker News, YouTube
# =============================================================================
#
# Smaller casts than X and Reddit, the same story: the Caldera launch (10-20), the burnt cold
# brew and the recall (11-11), the root cause (11-17), the product back (11-19). Each platform is
# laid out as its client library asks (connectors/<name>.py with demo.toml): the searches below
# are what the connectors' default queries are for demo.toml, and the demo matches requests on
# the parameters that decide the answer (listener/ops/demo.py, OPEN_DECIDING_PARAMS).

OPEN_SEARCHES = [  # one search per brand/competitor term (no OR on these networks), with the words each finds
    ("acme", ["acme"]),
    ('"acme coffee"', ["acme coffee"]),
    ("globex", ["globex"]),
    ("initech", ["initech"]),
]


def open_exchange(uri: str, body: object, served: int, headers: dict | None = None, method: str = "GET") -> dict:
    return {
        "request": {"method": method, "uri": uri, "body": None, "headers": {}},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "content-type": ["application/json; charset=utf-8"],
                "date": [served_date(served)],
                **{k: [v] for k, v in (headers or {}).items()},
            },
            "body": {"string": json.dumps(body, ensure_ascii=False)},
        },
    }


def iso_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# -- Bluesky -------------------------------------------------------------------

BSKY_XRPC = "https://bsky.social/xrpc"
BSKY_OWN = "acme.bsky.social"
BSKY_SESSION_HANDLE = "demo-listener.bsky.social"  # the placeholder login of demo.py's DEMO_CREDENTIALS


@dataclass
class BskyUser:
    handle: str
    name: str
    followers: int

    @property
    def did(self) -> str:
        return "did:plc:" + token("did", self.handle, length=24)


BSKY_USERS = {
    u.handle: u
    for u in [
        BskyUser(BSKY_OWN, "Acme Coffee", 6120),
        BskyUser("maya.bsky.social", "Maya Okafor · barista", 2140),
        BskyUser("brewlab.example.com", "Brew Lab Reviews", 58300),
        BskyUser("jonas.bsky.social", "Jonas Richter", 410),
        BskyUser("ana-souza.bsky.social", "Ana Souza", 880),
        BskyUser("lee.bsky.social", "Lee Park", 95),
        BskyUser("pdxfoodie.bsky.social", "PDX Foodie", 12900),
        BskyUser("sam-dev.bsky.social", "Sam", 330),
    ]
}


@dataclass
class Skeet:
    key: str
    author: str
    when: datetime
    text: str = ""
    reply_to: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None  # a repost: the own feed's reason, no post of its own
    lang: str = "en"
    likes: int = 0
    reposts: int = 0
    link: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def rkey(self) -> str:
        return "3m" + token("rkey", self.key, length=11)

    @property
    def uri(self) -> str:
        return f"at://{BSKY_USERS[self.author].did}/app.bsky.feed.post/{self.rkey}"


STORY_BSKY = [
    Skeet(
        "b_launch",
        BSKY_OWN,
        at("10-20 13:00"),
        "The Caldera is here ☕ Our first espresso machine: dual boiler, 58 mm, built to be repaired. Pre-orders open today. #acme",
        likes=640,
        reposts=151,
        link="https://acme.example.com/caldera",
        tags=("acme",),
    ),
    Skeet(
        "b_maya_shot",
        "maya.bsky.social",
        at("10-20 16:40"),
        "Pulled my first shot on the Acme Caldera at work this morning. Crema for days, and the steam wand is silly fast. I'm in love.",
        likes=233,
        reposts=30,
    ),
    Skeet(
        "b_brewlab_q",
        "brewlab.example.com",
        at("10-21 09:15"),
        "Acme's Caldera at $899 undercuts the Globex PodStar Pro and has a real group head. Full review Friday.",
        quote_of="b_launch",
        likes=812,
        reposts=177,
    ),
    Skeet(
        "b_own_thanks",
        BSKY_OWN,
        at("10-21 10:02"),
        "@brewlab.example.com thank you for putting it through its paces! Tell us what breaks first 😄",
        reply_to="b_brewlab_q",
        likes=96,
    ),
    Skeet("b_repost_review", BSKY_OWN, at("10-23 15:30"), repost_of="b_brewlab_q"),
    Skeet(
        "b_jonas",
        "jonas.bsky.social",
        at("11-03 19:20"),
        "Acme Cold Brew gibt es jetzt auch in Berlin. Endlich! Schmeckt wie in Portland.",
        lang="de",
        likes=41,
        reposts=4,
    ),
    Skeet(
        "b_foodie_globex",
        "pdxfoodie.bsky.social",
        at("11-06 12:10"),
        "Globex nitro is fine but Acme cold brew is still the one I keep in the fridge.",
        likes=188,
        reposts=12,
    ),
    Skeet(
        "b_maya_burnt",
        "maya.bsky.social",
        at("11-11 08:05"),
        f"@{BSKY_OWN} my cold brew tastes burnt, like ashtray burnt. Lot CB26-301. Is anyone else getting this?",
        likes=402,
        reposts=88,
    ),
    Skeet(
        "b_own_recall",
        BSKY_OWN,
        at("11-11 09:40"),
        "@maya.bsky.social we're so sorry. Lots CB26-298 to CB26-305 are recalled; refunds at acme.example.com/recall, no receipt needed.",
        reply_to="b_maya_burnt",
        likes=120,
        reposts=35,
        link="https://acme.example.com/recall",
    ),
    Skeet(
        "b_ana",
        "ana-souza.bsky.social",
        at("11-11 14:30"),
        "Cold brew da Acme com gosto de queimado, que decepção. Comprei três garrafas.",
        lang="pt",
        likes=17,
    ),
    Skeet(
        "b_lee_q",
        "lee.bsky.social",
        at("11-12 07:55"),
        f"@{BSKY_OWN} does the recall cover the 12-packs from Costco too?",
        likes=3,
    ),
    Skeet(
        "b_brewlab_recall",
        "brewlab.example.com",
        at("11-12 11:00"),
        "Credit where due: Acme pulled lots CB26-298..305 within a day and refunds without a receipt. That's how a recall should go.",
        likes=530,
        reposts=140,
    ),
    Skeet("b_repost_recall", BSKY_OWN, at("11-12 11:45"), repost_of="b_brewlab_recall"),
    Skeet(
        "b_initech",
        "sam-dev.bsky.social",
        at("11-13 18:00"),
        "Our office Initech drip machine died again. Lobbying for an Acme Caldera, wish me luck",
        likes=22,
    ),
    Skeet(
        "b_own_cause",
        BSKY_OWN,
        at("11-17 16:00"),
        "Root cause of the burnt cold brew: a thermostat fault on one roaster line, fixed and checked by an outside lab. The full report: acme.example.com/recall #acme",
        likes=310,
        reposts=77,
        link="https://acme.example.com/recall/report",
        tags=("acme",),
    ),
    Skeet(
        "b_maya_back",
        "maya.bsky.social",
        at("11-19 15:20"),
        "Acme cold brew is back on our shelf and it tastes right again. Thanks for the straight answers, Acme coffee team.",
        likes=260,
        reposts=21,
    ),
    Skeet(
        "b_foodie_blind",
        "pdxfoodie.bsky.social",
        at("11-21 10:30"),
        "Blind test tonight: Globex nitro vs Acme cold brew vs Initech's new can. Results tomorrow 👀",
        likes=95,
        reposts=9,
    ),
]


def bsky_layout() -> dict[str, Skeet]:
    skeets = {s.key: s for s in STORY_BSKY}
    assert len(skeets) == len(STORY_BSKY), "duplicate Bluesky keys"
    for s in STORY_BSKY:
        for ref in (s.reply_to, s.quote_of, s.repost_of):
            assert ref is None or (ref in skeets and skeets[ref].when < s.when), (s.key, ref)
    return skeets


def bsky_facets(s: Skeet) -> list[dict]:
    data, facets = s.text.encode(), []
    for match in re.finditer(r"@([a-z0-9.-]+\.[a-z]+)", s.text):
        if match.group(1) in BSKY_USERS:
            start = len(s.text[: match.start()].encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": start + len(match.group(0).encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BSKY_USERS[match.group(1)].did}],
                }
            )
    for tag in s.tags:
        start = data.index(f"#{tag}".encode())
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(tag.encode()) + 1},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        )
    if s.link:
        shown = s.link.removeprefix("https://").split("/recall")[0] + "/recall"
        if shown.encode() in data:
            start = data.index(shown.encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": start + len(shown.encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#link", "uri": s.link}],
                }
            )
    return facets


def bsky_author(handle: str) -> dict:
    u = BSKY_USERS[handle]
    return {
        "did": u.did,
        "handle": u.handle,
        "displayName": u.name,
        "labels": [],
        "createdAt": "2023-05-02T10:00:00.000Z",
    }


def bsky_view(s: Skeet, skeets: dict[str, Skeet]) -> dict:
    record: dict = {"$type": "app.bsky.feed.post", "createdAt": iso_ms(s.when), "langs": [s.lang], "text": s.text}
    facets = bsky_facets(s)
    if facets:
        record["facets"] = facets
    if s.reply_to:
        parent = skeets[s.reply_to]
        root = parent
        while root.reply_to:
            root = skeets[root.reply_to]
        record["reply"] = {
            "parent": {"uri": parent.uri, "cid": f"bafyrei{parent.rkey}"},
            "root": {"uri": root.uri, "cid": f"bafyrei{root.rkey}"},
        }
    if s.quote_of:
        quoted = skeets[s.quote_of]
        record["embed"] = {
            "$type": "app.bsky.embed.record",
            "record": {"uri": quoted.uri, "cid": f"bafyrei{quoted.rkey}"},
        }
    elif s.link and "embed" not in record:
        record["embed"] = {
            "$type": "app.bsky.embed.external",
            "external": {"uri": s.link, "title": "Acme Coffee", "description": ""},
        }
    replies = sum(1 for o in skeets.values() if o.reply_to == s.key)
    quotes = sum(1 for o in skeets.values() if o.quote_of == s.key)
    return {
        "uri": s.uri,
        "cid": f"bafyrei{s.rkey}",
        "author": bsky_author(s.author),
        "record": record,
        "replyCount": replies + s.likes // 40,
        "repostCount": s.reposts,
        "likeCount": s.likes,
        "quoteCount": quotes,
        "indexedAt": iso_ms(s.when + timedelta(seconds=1)),
        "labels": [],
    }


def bsky_exchange(nsid: str, params: list[tuple[str, str]], body: dict, served: int, method: str = "GET") -> dict:
    query = f"?{urlencode(params)}" if params else ""
    headers = {
        "ratelimit-limit": "3000",
        "ratelimit-remaining": str(2999 - served),
        "ratelimit-reset": str(int(RECORDED_AT.timestamp()) + 300),
        "ratelimit-policy": "3000;w=300",
    }
    return open_exchange(f"{BSKY_XRPC}/{nsid}{query}", body, served, headers, method)


def bsky_jwt(subject: str, expires: int) -> str:
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part({'sub': subject, 'exp': expires})}.ZGVtbw"


BSKY_SESSION_EXPIRES = 4102444800  # 2100-01-01: the replayed session never needs a refresh


def build_bluesky() -> tuple[list[dict], dict[str, int]]:
    skeets = bsky_layout()
    me = "did:plc:" + token("did", BSKY_SESSION_HANDLE, length=24)
    exchanges = [
        bsky_exchange(
            "com.atproto.server.createSession",
            [],
            {
                "accessJwt": bsky_jwt(me, BSKY_SESSION_EXPIRES),
                "refreshJwt": bsky_jwt(me, BSKY_SESSION_EXPIRES + 86400),
                "handle": BSKY_SESSION_HANDLE,
                "did": me,
                "active": True,
            },
            0,
            method="POST",
        )
    ]
    known: set[str] = set()  # the connector asks each author's profile once per run

    def page(nsid: str, params: list[tuple[str, str]], key: str, items: list[dict], dids: list[str]) -> None:
        exchanges.append(bsky_exchange(nsid, params, {key: items}, len(exchanges)))
        wanted = [d for d in dict.fromkeys(dids) if d not in known]
        for start in range(0, len(wanted), 25):
            batch = wanted[start : start + 25]
            by_did = {u.did: u for u in BSKY_USERS.values()}
            profiles = [
                {
                    "did": d,
                    "handle": by_did[d].handle,
                    "displayName": by_did[d].name,
                    "followersCount": by_did[d].followers,
                    "followsCount": 150 + digest("follows", d) % 700,
                    "postsCount": 40 + digest("posts", d) % 3000,
                }
                for d in batch
            ]
            exchanges.append(
                bsky_exchange(
                    "app.bsky.actor.getProfiles", [("actors", d) for d in batch], {"profiles": profiles}, len(exchanges)
                )
            )
        known.update(wanted)

    posts = sorted((s for s in skeets.values() if not s.repost_of), key=lambda s: s.when, reverse=True)
    for query, words in OPEN_SEARCHES:
        found = [s for s in posts if matches(s.text, words)]
        page(
            "app.bsky.feed.searchPosts",
            [("q", query), ("sort", "latest"), ("limit", "100")],
            "posts",
            [bsky_view(s, skeets) for s in found],
            [BSKY_USERS[s.author].did for s in found],
        )
    mentioning = [s for s in posts if f"@{BSKY_OWN}" in s.text]
    page(
        "app.bsky.feed.searchPosts",
        [("q", f"mentions:{BSKY_OWN}"), ("sort", "latest"), ("limit", "100")],
        "posts",
        [bsky_view(s, skeets) for s in mentioning],
        [BSKY_USERS[s.author].did for s in mentioning],
    )
    own = sorted((s for s in skeets.values() if s.author == BSKY_OWN), key=lambda s: s.when, reverse=True)
    feed, dids = [], []
    for s in own:
        if s.repost_of:
            original = skeets[s.repost_of]
            feed.append(
                {
                    "post": bsky_view(original, skeets),
                    "reason": {
                        "$type": "app.bsky.feed.defs#reasonRepost",
                        "by": bsky_author(BSKY_OWN),
                        "uri": f"at://{BSKY_USERS[BSKY_OWN].did}/app.bsky.feed.repost/{s.rkey}",
                        "indexedAt": iso_ms(s.when),
                    },
                }
            )
            dids += [BSKY_USERS[original.author].did, BSKY_USERS[BSKY_OWN].did]
        else:
            item: dict = {"post": bsky_view(s, skeets)}
            if s.reply_to:
                parent = skeets[s.reply_to]
                item["reply"] = {"parent": bsky_view(parent, skeets), "root": bsky_view(parent, skeets)}
            feed.append(item)
            dids.append(BSKY_USERS[BSKY_OWN].did)
    page(
        "app.bsky.feed.getAuthorFeed",
        [("actor", BSKY_OWN), ("limit", "100"), ("filter", "posts_with_replies")],
        "feed",
        feed,
        dids,
    )
    return exchanges, {"posts": len(posts), "reposts": len(skeets) - len(posts)}


# -- Mastodon ------------------------------------------------------------------

MASTODON = "https://mastodon.social"
MASTODON_OWN = "acmecoffee@mastodon.social"


@dataclass
class Toot:
    key: str
    acct: str  # user@home
    when: datetime
    text: str
    tags: tuple[str, ...] = ()
    reply_to: str | None = None
    reblog_of: str | None = None
    lang: str = "en"
    favourites: int = 0
    reblogs: int = 0

    @property
    def local_id(self) -> str:  # a Mastodon id: milliseconds << 16, a sequence below
        return str((int(self.when.timestamp() * 1000) << 16) + digest("seq", self.key) % 65536)

    @property
    def user(self) -> str:
        return self.acct.partition("@")[0]

    @property
    def home(self) -> str:
        return self.acct.partition("@")[2]

    @property
    def uri(self) -> str:
        return f"https://{self.home}/users/{self.user}/statuses/{digest('status', self.key) % 10**18}"


MASTODON_ACCOUNTS = {  # acct -> (display name, followers)
    MASTODON_OWN: ("Acme Coffee", 3310),
    "kaffeeklatsch@chaos.social": ("Kaffeeklatsch", 1420),
    "rosa@mastodon.social": ("Rosa Lind", 260),
    "espressonerd@fosstodon.org": ("Espresso Nerd", 9800),
    "theo@mastodon.online": ("Théo Martin", 540),
    "repairfan@mastodon.social": ("Right to Repair Fan", 2210),
}

STORY_MASTODON = [
    Toot(
        "m_launch",
        MASTODON_OWN,
        at("10-20 13:05"),
        "The Caldera is here: our first espresso machine, dual boiler, and every part can be repaired and bought on its own. #acme #espresso",
        ("acme", "espresso"),
        favourites=210,
        reblogs=96,
    ),
    Toot(
        "m_repair",
        "repairfan@mastodon.social",
        at("10-20 18:30"),
        "An espresso machine with a published parts list and repair guides? Acme just did the thing. #acme #RightToRepair",
        ("acme", "righttorepair"),
        favourites=540,
        reblogs=260,
    ),
    Toot("m_reblog_repair", MASTODON_OWN, at("10-21 08:00"), "", reblog_of="m_repair"),
    Toot(
        "m_nerd",
        "espressonerd@fosstodon.org",
        at("10-24 20:10"),
        "Two weeks with the Acme Caldera: temperature stable to 0.5 °C, shots as good as my old Globex at half the noise. #acme #espresso",
        ("acme", "espresso"),
        favourites=330,
        reblogs=71,
    ),
    Toot(
        "m_theo",
        "theo@mastodon.online",
        at("11-04 09:00"),
        "Le cold brew Acme est enfin arrivé à Lyon. Très bon, un peu cher. #acme",
        ("acme",),
        lang="fr",
        favourites=12,
    ),
    Toot(
        "m_rosa_burnt",
        "rosa@mastodon.social",
        at("11-11 10:15"),
        "@acmecoffee is the burnt taste in the cold brew the recall? Mine is lot CB26-302. #acme",
        ("acme",),
        favourites=8,
    ),
    Toot(
        "m_own_answer",
        MASTODON_OWN,
        at("11-11 11:00"),
        "@rosa yes, CB26-302 is one of the recalled lots (CB26-298 to 305). Please don't drink it: refund at acme.example.com/recall, no receipt needed. #acme",
        ("acme",),
        reply_to="m_rosa_burnt",
        favourites=45,
        reblogs=30,
    ),
    Toot(
        "m_kaffee",
        "kaffeeklatsch@chaos.social",
        at("11-12 16:40"),
        "Acme ruft Cold Brew zurück: verbrannter Geschmack, Chargen CB26-298 bis 305. Geld zurück ohne Kassenbon. #acme",
        ("acme",),
        lang="de",
        favourites=64,
        reblogs=40,
    ),
    Toot(
        "m_nerd_globex",
        "espressonerd@fosstodon.org",
        at("11-14 19:00"),
        "Globex's answer to the Caldera is a PodStar with a bigger tank. Not quite it. #globex #espresso",
        ("globex", "espresso"),
        favourites=120,
        reblogs=22,
    ),
    Toot(
        "m_own_cause",
        MASTODON_OWN,
        at("11-17 16:05"),
        "What went wrong with the cold brew: a thermostat fault on one roaster line. Fixed, checked by an outside lab, report at acme.example.com/recall #acme",
        ("acme",),
        favourites=150,
        reblogs=64,
    ),
    Toot(
        "m_rosa_back",
        "rosa@mastodon.social",
        at("11-19 17:30"),
        "@acmecoffee got my refund and the new batch tastes right. Thanks for answering so fast. #acme",
        ("acme",),
        reply_to="m_own_answer",
        favourites=19,
    ),
    Toot(
        "m_initech",
        "theo@mastodon.online",
        at("11-20 08:20"),
        "Initech's new canned coffee is everywhere in Paris now. #initech",
        ("initech",),
        lang="fr",
        favourites=4,
    ),
]


def mastodon_layout() -> dict[str, Toot]:
    toots = {t.key: t for t in STORY_MASTODON}
    assert len(toots) == len(STORY_MASTODON), "duplicate Mastodon keys"
    for t in STORY_MASTODON:
        assert t.acct in MASTODON_ACCOUNTS, t.acct
        for ref in (t.reply_to, t.reblog_of):
            assert ref is None or (ref in toots and toots[ref].when < t.when), (t.key, ref)
    return toots


def mastodon_account(acct: str) -> dict:
    user, _, home = acct.partition("@")
    name, followers = MASTODON_ACCOUNTS[acct]
    return {
        "id": str(100000 + digest("account", acct) % 10**8),
        "username": user,
        "acct": user if home == "mastodon.social" else acct,  # as mastodon.social shows it
        "display_name": name,
        "locked": False,
        "bot": False,
        "created_at": "2022-11-08T00:00:00.000Z",
        "note": "",
        "url": f"https://{home}/@{user}",
        "uri": f"https://{home}/users/{user}",
        "followers_count": followers,
        "following_count": 100 + digest("following", acct) % 400,
        "statuses_count": 200 + digest("statuses", acct) % 4000,
    }


def toot_html(t: Toot) -> str:
    out = html.escape(t.text, quote=False)
    for acct in MASTODON_ACCOUNTS:
        user, _, home = acct.partition("@")
        out = out.replace(
            f"@{user} ",
            f'<span class="h-card" translate="no"><a href="https://{home}/@{user}" class="u-url mention">@<span>{user}</span></a></span> ',
        )
    for tag in t.tags:
        out = re.sub(
            rf"#{tag}\b",
            f'<a href="https://mastodon.social/tags/{tag}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>',
            out,
            flags=re.IGNORECASE,
        )
    return f"<p>{out}</p>"


def toot_payload(t: Toot, toots: dict[str, Toot]) -> dict:
    if t.reblog_of:
        original = toots[t.reblog_of]
        body = toot_payload(original, toots)
        return {
            **body,
            "id": t.local_id,
            "created_at": iso_ms(t.when),
            "uri": f"https://mastodon.social/users/{t.user}/statuses/{t.local_id}/activity",
            "url": None,
            "content": "",
            "reblog": body,
            "account": mastodon_account(t.acct),
            "mentions": [],
            "tags": [],
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
        }
    parent = toots[t.reply_to] if t.reply_to else None
    mentioned = [a for a in MASTODON_ACCOUNTS if f"@{a.partition('@')[0]} " in t.text + " "]
    return {
        "id": t.local_id,
        "created_at": iso_ms(t.when),
        "in_reply_to_id": parent.local_id if parent else None,
        "in_reply_to_account_id": mastodon_account(parent.acct)["id"] if parent else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": t.lang,
        "uri": t.uri,
        "url": f"https://{t.home}/@{t.user}/{digest('status', t.key) % 10**18}",
        "replies_count": sum(1 for o in toots.values() if o.reply_to == t.key),
        "reblogs_count": t.reblogs,
        "favourites_count": t.favourites,
        "content": toot_html(t),
        "reblog": None,
        "account": mastodon_account(t.acct),
        "media_attachments": [],
        "mentions": [
            {
                "id": mastodon_account(a)["id"],
                "username": a.partition("@")[0],
                "acct": mastodon_account(a)["acct"],
                "url": mastodon_account(a)["url"],
            }
            for a in mentioned
        ],
        "tags": [{"name": tag, "url": f"https://mastodon.social/tags/{tag}"} for tag in t.tags],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def mastodon_page(path: str, statuses: list[dict], served: int, params: list[tuple[str, str]]) -> dict:
    headers = {
        "x-ratelimit-limit": "300",
        "x-ratelimit-remaining": str(299 - served),
        "x-ratelimit-reset": iso_ms(RECORDED_AT + timedelta(minutes=5)),
    }
    if statuses:
        url = f"{MASTODON}{path}"
        headers["link"] = (
            f'<{url}?limit=40&max_id={statuses[-1]["id"]}>; rel="next", <{url}?limit=40&min_id={statuses[0]["id"]}>; rel="prev"'
        )
    return open_exchange(f"{MASTODON}{path}?{urlencode(params)}", statuses, served, headers)


def build_mastodon() -> tuple[list[dict], dict[str, int]]:
    """Own account (lookup, statuses), then the hashtag timelines, as connectors/mastodon.py reads them."""
    toots = mastodon_layout()
    exchanges: list[dict] = []
    seen: dict[str, str | None] = {}  # local id -> root uri once known (the connector's run memory)

    def timeline(path: str, chosen: list[Toot], first: list[tuple[str, str]]) -> None:
        newest_first = sorted(chosen, key=lambda t: t.when, reverse=True)
        statuses = [toot_payload(t, toots) for t in newest_first]
        exchanges.append(mastodon_page(path, statuses, len(exchanges), first))
        threads(newest_first)
        if statuses:
            exchanges.append(mastodon_page(path, [], len(exchanges), [("limit", "40"), ("max_id", statuses[-1]["id"])]))

    def threads(page: list[Toot]) -> None:
        inner = page + [toots[t.reblog_of] for t in page if t.reblog_of]
        for t in inner:
            seen.setdefault(t.local_id, None if t.reply_to else t.uri)
        for t in reversed(inner):  # oldest first, as the connector resolves them
            if not t.reply_to:
                continue
            parent = toots[t.reply_to]
            if seen.get(parent.local_id) is None:
                chain = [parent]
                while chain[0].reply_to:
                    chain.insert(0, toots[chain[0].reply_to])
                body = {"ancestors": [toot_payload(a, toots) for a in chain], "descendants": []}
                exchanges.append(
                    open_exchange(f"{MASTODON}/api/v1/statuses/{t.local_id}/context", body, len(exchanges))
                )
                for a in chain:
                    seen[a.local_id] = chain[0].uri
            seen[t.local_id] = seen[parent.local_id]

    own = mastodon_account(MASTODON_OWN)
    exchanges.append(open_exchange(f"{MASTODON}/api/v1/accounts/lookup?acct=acmecoffee", own, 0))
    timeline(
        f"/api/v1/accounts/{own['id']}/statuses",
        [t for t in toots.values() if t.acct == MASTODON_OWN],
        [("exclude_replies", "0"), ("exclude_reblogs", "0"), ("limit", "40")],
    )
    for tag in ("acme", "globex", "initech"):  # connectors.mastodon.default_hashtags for demo.toml
        tagged = [t for t in toots.values() if tag in t.tags]
        timeline(f"/api/v1/timelines/tag/{tag}", tagged, [("limit", "40")])
    return exchanges, {"statuses": len(toots)}


# -- Hacker News ---------------------------------------------------------------

HN_API = "https://hn.algolia.com/api/v1"
HN_OWN = "acme_eng"


@dataclass
class HNItem:
    key: str
    author: str
    when: datetime
    text: str  # a story's title, or a comment's text
    story: str | None = None  # a comment: its story's key
    parent: str | None = None  # a comment: the item it answers (default: the story)
    url: str | None = None
    points: int | None = None

    @property
    def id(self) -> int:
        # HN ids grow with time: ~45.9M items on 2026-01-01, about 13,000 a day
        return (
            45_900_000
            + int((self.when - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() // 6.6)
            + digest("hn", self.key) % 5
        )


STORY_HN = [
    HNItem(
        "h_launch",
        "mjensen",
        at("10-20 15:12"),
        "Acme Caldera: a repairable dual-boiler espresso machine with published schematics",
        url="https://acme.example.com/caldera/open",
        points=412,
    ),
    HNItem(
        "h_c1",
        "kdub",
        at("10-20 15:40"),
        "The parts list with prices is the real news here. I gave up on my Globex after they wanted $240 for a pump.",
        story="h_launch",
    ),
    HNItem(
        "h_c2",
        HN_OWN,
        at("10-20 16:05"),
        "Acme engineer here. Schematics, the controller firmware and the service manual are all under CC BY-SA; happy to answer questions.",
        story="h_launch",
    ),
    HNItem(
        "h_c3",
        "tpeters",
        at("10-20 16:30"),
        "Is the Acme PID firmware actually open source, or only the manual?",
        story="h_launch",
        parent="h_c2",
    ),
    HNItem(
        "h_c4",
        HN_OWN,
        at("10-20 16:48"),
        "Firmware too: GPLv3, the repo is linked from the page. PRs welcome.",
        story="h_launch",
        parent="h_c3",
    ),
    HNItem(
        "h_c5",
        "ncarver",
        at("10-21 09:00"),
        "Acme coffee beans were always good; nice to see the hardware take the same care.",
        story="h_launch",
    ),
    HNItem(
        "h_recall",
        "sgill",
        at("11-12 14:20"),
        "Acme recalls cold brew lots after burnt-taste reports",
        url="https://news.example.com/acme-cold-brew-recall",
        points=98,
    ),
    HNItem(
        "h_r1",
        "lmarsh",
        at("11-12 14:55"),
        "A burnt taste across eight lots smells like a roasting control problem, not the brewing. Curious what Acme finds as the root cause.",
        story="h_recall",
    ),
    HNItem(
        "h_r2",
        "dvance",
        at("11-12 15:30"),
        "Is anyone tracking whether Globex or Initech buy from the same roaster?",
        story="h_recall",
    ),
    HNItem(
        "h_cause",
        "mjensen",
        at("11-17 17:30"),
        "Acme's cold brew post-mortem: one thermostat fault on one roaster line",
        url="https://acme.example.com/recall/report",
        points=64,
    ),
    HNItem(
        "h_k1",
        HN_OWN,
        at("11-17 18:10"),
        "We tried to write the report we'd want to read. The lab data is in the appendix.",
        story="h_cause",
    ),
]


def hn_layout() -> dict[str, HNItem]:
    items = {i.key: i for i in STORY_HN}
    assert len(items) == len(STORY_HN), "duplicate HN keys"
    for i in STORY_HN:
        for ref in (i.story, i.parent):
            assert ref is None or (ref in items and items[ref].when < i.when), (i.key, ref)
    return items


def hn_hit(i: HNItem, items: dict[str, HNItem]) -> dict:
    stamp = int(i.when.timestamp())
    common = {
        "author": i.author,
        "created_at": i.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_at_i": stamp,
        "objectID": str(i.id),
        "updated_at": (RECORDED_AT - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if i.story is None:
        return {
            **common,
            "title": i.text,
            "url": i.url,
            "points": i.points,
            "num_comments": sum(1 for o in items.values() if o.story == i.key),
            "story_id": i.id,
            "children": [o.id for o in items.values() if o.story == i.key and o.parent is None],
            "_tags": ["story", f"author_{i.author}", f"story_{i.id}"],
        }
    story = items[i.story]
    parent = items[i.parent] if i.parent else story
    return {
        **common,
        "comment_text": "<p>".join(html.escape(p, quote=False) for p in i.text.split("\n\n")),
        "story_id": story.id,
        "story_title": story.text,
        "story_url": story.url,
        "parent_id": parent.id,
        "points": None,
        "_tags": ["comment", f"author_{i.author}", f"story_{story.id}"],
    }


def build_hackernews() -> tuple[list[dict], dict[str, int]]:
    items = hn_layout()
    newest_first = sorted(items.values(), key=lambda i: i.when, reverse=True)
    streams = [
        (query, [i for i in newest_first if matches(i.text, words)], {"query": query}) for query, words in OPEN_SEARCHES
    ]
    streams.append(("", [i for i in newest_first if i.author == HN_OWN], {}))
    exchanges = []
    for query, found, extra in streams:
        tags = "(story,comment)" + (f",author_{HN_OWN}" if not query else "")
        # The window's top is the time of the run (numericFilters): the demo does not match on it.
        params = [
            ("tags", tags),
            ("numericFilters", f"created_at_i>1160418111,created_at_i<={int(RECORDED_AT.timestamp())}"),
            ("hitsPerPage", "1000"),
            ("page", "0"),
            *extra.items(),
        ]
        body = {
            "hits": [hn_hit(i, items) for i in found],
            "nbHits": len(found),
            "page": 0,
            "nbPages": 1 if found else 0,
            "hitsPerPage": 1000,
            "exhaustiveNbHits": True,
            "exhaustiveTypo": True,
            "query": query,
            "params": urlencode(params),
            "processingTimeMS": 2 + len(found),
        }
        exchanges.append(open_exchange(f"{HN_API}/search_by_date?{urlencode(params)}", body, len(exchanges)))
    return exchanges, {"items": len(items)}


# -- YouTube -------------------------------------------------------------------

YOUTUBE_API = "https://youtube.googleapis.com/youtube/v3"
YOUTUBE_OWN_CHANNEL = "UCacmeCoffeeRoasters-PDX"  # UC + 22
YOUTUBE_REVIEW_VIDEO = "bRwLabCald3"  # a reviewer's video, listed in video_ids
YOUTUBE_VIDEOS = {  # video id -> channel id
    "AcMeCald3ra": YOUTUBE_OWN_CHANNEL,  # "Meet the Caldera"
    "AcMeRecaLL1": YOUTUBE_OWN_CHANNEL,  # "What went wrong with our cold brew"
    YOUTUBE_REVIEW_VIDEO: "UCbrewLabReviewsChannel1",
}
YOUTUBE_PEOPLE = {  # author display name -> channel id
    "@AcmeCoffee": YOUTUBE_OWN_CHANNEL,
    "@brewlabreviews": "UCbrewLabReviewsChannel1",
    "@homebaristajo": "UChomeBaristaJo-00000001",
    "@mikestechcorner": "UCmikesTechCorner000001",
    "@coldbrewcarla": "UCcoldBrewCarla00000001",
    "@danielsfix": "UCdanielsFix00000000001",
    "@priya.sips": "UCpriyaSips000000000001",
    "Gerald Whitman": "UCgeraldWhitman00000001",
    "@latteartluis": "UClatteArtLuis000000001",
}


@dataclass
class YTComment:
    key: str
    author: str
    when: datetime
    video: str
    text: str
    reply_to: str | None = None  # the thread's top-level comment
    likes: int = 0

    @property
    def id(self) -> str:
        """A YouTube comment id: a reply's is its thread's id, a dot and its own part."""
        top = "Ugz" + token("yt", self.reply_to or self.key, length=20) + "4AaABAg"
        return top if self.reply_to is None else f"{top}.{token('ytr', self.key, length=22)}"


STORY_YOUTUBE = [
    YTComment(
        "y_c1",
        "@homebaristajo",
        at("10-20 17:00"),
        "AcMeCald3ra",
        "Finally a machine where I can replace the pump myself. Pre-ordered the Caldera!",
        likes=312,
    ),
    YTComment(
        "y_c1r1",
        "@AcmeCoffee",
        at("10-20 17:45"),
        "AcMeCald3ra",
        "@homebaristajo thank you Jo! Every part has its own page in the manual.",
        reply_to="y_c1",
        likes=40,
    ),
    YTComment(
        "y_c2",
        "@mikestechcorner",
        at("10-21 12:30"),
        "AcMeCald3ra",
        "How loud is it compared to the Globex PodStar?",
        likes=58,
    ),
    YTComment(
        "y_c2r1",
        "@AcmeCoffee",
        at("10-21 14:00"),
        "AcMeCald3ra",
        "@mikestechcorner about 54 dB while pulling a shot, roughly half of a PodStar in our tests.",
        reply_to="y_c2",
        likes=22,
    ),
    YTComment(
        "y_c3", "@latteartluis", at("10-22 09:10"), "AcMeCald3ra", "The steam wand at 2:14 😍 that microfoam", likes=140
    ),
    YTComment(
        "y_v1",
        "@priya.sips",
        at("10-25 18:00"),
        YOUTUBE_REVIEW_VIDEO,
        "Great review. The Acme Caldera seems like the better buy unless you need pods.",
        likes=77,
    ),
    YTComment(
        "y_v2",
        "Gerald Whitman",
        at("10-26 08:30"),
        YOUTUBE_REVIEW_VIDEO,
        "I have had an Initech for ten years and it still works. Why pay $899?",
        likes=12,
    ),
    YTComment(
        "y_v2r1",
        "@brewlabreviews",
        at("10-26 10:00"),
        YOUTUBE_REVIEW_VIDEO,
        "@Gerald Whitman fair point, the Initech is a drip machine though: no espresso.",
        reply_to="y_v2",
        likes=30,
    ),
    YTComment(
        "y_r1",
        "@coldbrewcarla",
        at("11-17 17:20"),
        "AcMeRecaLL1",
        "Thank you for explaining this properly instead of a one-line statement. Still a bit nervous about my next bottle.",
        likes=420,
    ),
    YTComment(
        "y_r1r1",
        "@danielsfix",
        at("11-17 17:40"),
        "AcMeRecaLL1",
        "@coldbrewcarla same, but a thermostat fault is at least a clear cause.",
        reply_to="y_r1",
        likes=18,
    ),
    YTComment(
        "y_r1r2",
        "@homebaristajo",
        at("11-17 18:05"),
        "AcMeRecaLL1",
        "@coldbrewcarla the lab report in the description is worth reading.",
        reply_to="y_r1",
        likes=25,
    ),
    YTComment(
        "y_r1r3",
        "Gerald Whitman",
        at("11-17 19:30"),
        "AcMeRecaLL1",
        "Three weeks of burnt coffee before anyone noticed? That's the part I don't get.",
        reply_to="y_r1",
        likes=9,
    ),
    YTComment(
        "y_r1r4",
        "@AcmeCoffee",
        at("11-17 20:00"),
        "AcMeRecaLL1",
        "@Gerald Whitman the first bad lot shipped on Nov 3 and we recalled on Nov 11: 8 days, still too long. The video covers what we changed.",
        reply_to="y_r1",
        likes=51,
    ),
    YTComment(
        "y_r1r5",
        "@priya.sips",
        at("11-18 08:15"),
        "AcMeRecaLL1",
        "@coldbrewcarla the new batches are marked CB26-310 and up if that helps.",
        reply_to="y_r1",
        likes=14,
    ),
    YTComment(
        "y_r1r6",
        "@coldbrewcarla",
        at("11-18 09:00"),
        "AcMeRecaLL1",
        "@priya.sips good to know, thanks!",
        reply_to="y_r1",
        likes=6,
    ),
    YTComment(
        "y_r1r7",
        "@AcmeCoffee",
        at("11-18 11:30"),
        "AcMeRecaLL1",
        "@coldbrewcarla that's right: CB26-310 and later are the fixed line.",
        reply_to="y_r1",
        likes=19,
    ),
    YTComment(
        "y_r2",
        "@mikestechcorner",
        at("11-19 20:00"),
        "AcMeRecaLL1",
        "Does the refund work without a receipt outside the US?",
        likes=11,
    ),
]


def youtube_layout() -> dict[str, YTComment]:
    comments = {c.key: c for c in STORY_YOUTUBE}
    assert len(comments) == len(STORY_YOUTUBE), "duplicate YouTube keys"
    for c in STORY_YOUTUBE:
        assert c.author in YOUTUBE_PEOPLE and c.video in YOUTUBE_VIDEOS, c.key
        assert c.reply_to is None or (comments[c.reply_to].reply_to is None and comments[c.reply_to].when < c.when)
    return comments


def yt_comment(c: YTComment) -> dict:
    channel = YOUTUBE_PEOPLE[c.author]
    snippet = {
        "channelId": YOUTUBE_VIDEOS[c.video],
        "videoId": c.video,
        "textDisplay": c.text,
        "textOriginal": c.text,
        "authorDisplayName": c.author,
        "authorProfileImageUrl": f"https://yt3.ggpht.example.com/{channel}=s48",
        "authorChannelUrl": f"http://www.youtube.com/{c.author if c.author.startswith('@') else 'channel/' + channel}",
        "authorChannelId": {"value": channel},
        "canRate": True,
        "viewerRating": "none",
        "likeCount": c.likes,
        "publishedAt": c.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updatedAt": c.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if c.reply_to:
        snippet["parentId"] = c.id.split(".")[0]
    return {"kind": "youtube#comment", "etag": token("etag", c.key, length=27), "id": c.id, "snippet": snippet}


EMBEDDED_REPLIES = 5  # commentThreads embeds at most five replies; comments.list has them all


def yt_thread(top: YTComment, replies: list[YTComment]) -> dict:
    thread = {
        "kind": "youtube#commentThread",
        "etag": token("etag-thread", top.key, length=27),
        "id": top.id,
        "snippet": {
            "channelId": YOUTUBE_VIDEOS[top.video],
            "videoId": top.video,
            "topLevelComment": yt_comment(top),
            "canReply": True,
            "totalReplyCount": len(replies),
            "isPublic": True,
        },
    }
    if replies:  # newest first, as the API embeds them
        thread["replies"] = {
            "comments": [yt_comment(r) for r in sorted(replies, key=lambda r: r.when, reverse=True)[:EMBEDDED_REPLIES]]
        }
    return thread


def build_youtube() -> tuple[list[dict], dict[str, int]]:
    comments = youtube_layout()
    tops = sorted((c for c in comments.values() if c.reply_to is None), key=lambda c: c.when, reverse=True)
    replies = {t.key: [c for c in comments.values() if c.reply_to == t.key] for t in tops}
    common = [("part", "snippet,replies"), ("order", "time"), ("maxResults", "100"), ("textFormat", "plainText")]
    exchanges: list[dict] = []
    for selector, chosen in (
        (
            ("allThreadsRelatedToChannelId", YOUTUBE_OWN_CHANNEL),
            [t for t in tops if YOUTUBE_VIDEOS[t.video] == YOUTUBE_OWN_CHANNEL],
        ),
        (("videoId", YOUTUBE_REVIEW_VIDEO), [t for t in tops if t.video == YOUTUBE_REVIEW_VIDEO]),
    ):
        body = {
            "kind": "youtube#commentThreadListResponse",
            "etag": token("etag-list", *selector, length=27),
            "pageInfo": {"totalResults": len(chosen), "resultsPerPage": 100},
            "items": [yt_thread(t, replies[t.key]) for t in chosen],
        }
        exchanges.append(
            open_exchange(
                f"{YOUTUBE_API}/commentThreads?{urlencode([selector, *common, ('alt', 'json')])}", body, len(exchanges)
            )
        )
        for t in chosen:
            if len(replies[t.key]) > EMBEDDED_REPLIES:
                listed = sorted(replies[t.key], key=lambda r: r.when)
                page = {
                    "kind": "youtube#commentListResponse",
                    "etag": token("etag-replies", t.key, length=27),
                    "items": [yt_comment(r) for r in listed],
                }
                params = [
                    ("part", "snippet"),
                    ("parentId", t.id),
                    ("maxResults", "100"),
                    ("textFormat", "plainText"),
                    ("alt", "json"),
                ]
                exchanges.append(open_exchange(f"{YOUTUBE_API}/comments?{urlencode(params)}", page, len(exchanges)))
    return exchanges, {"comments": len(comments)}


BUILDERS = {  # recordings/<name>.json
    "x": build_x,
    "reddit": build_reddit,
    "bluesky": build_bluesky,
    "mastodon": build_mastodon,
    "hackernews": build_hackernews,
    "youtube": build_youtube,
}


def build() -> dict[str, str]:
    """The recordings, as file name -> text."""
    return {f"{name}.json": cassette(build_source()[0]) for name, build_source in BUILDERS.items()}


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in build().items():
        (OUT / name).write_text(text, encoding="utf-8")
    for source, build_source in BUILDERS.items():
        print(source, json.dumps(build_source()[1], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
