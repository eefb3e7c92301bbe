"""The pure RSS/Atom mapper on hand-written feeds (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser

from connectors.rss import entry_native_id, map_feed

NOW = datetime(2026, 11, 23, tzinfo=UTC)

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>News &amp; Views</title><id>urn:feed</id><updated>2026-11-20T10:00:00Z</updated>
  <entry xml:lang="fr">
    <title type="html">Acme &lt;b&gt;caf\xc3\xa9&lt;/b&gt;</title><id>tag:news.example.org,2026:1</id>
    <published>2026-11-20T10:00:00+02:00</published><author><name>Zo\xc3\xa9</name></author>
    <content type="html">&lt;p&gt;Bon&lt;script&gt;alert(1)&lt;/script&gt; caf\xc3\xa9&lt;/p&gt;</content>
    <link href="javascript:alert(1)"/>
  </entry>
  <entry><title>No author, no date</title><id>42</id><summary>plain</summary></entry>
</feed>"""


def test_atom_entry_maps_text_language_author_and_utc_date():
    mentions, problems = map_feed(feedparser.parse(ATOM), "http://news.example.org/feed", None, NOW)
    assert problems == []
    first, second = mentions
    assert first.id == "tag:news.example.org,2026:1"
    assert first.title == "Acme café" and first.text == "Bon café"  # tags and scripts gone
    assert first.lang == "fr"
    assert first.created_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert first.author.name == "Zoé" and first.author.id == "news.example.org/zoé"
    assert first.url is None  # only http(s) links are kept
    assert first.community == "News & Views"
    # A non-global id is scoped to the feed; no date falls back to the feed's updated time.
    assert second.id.startswith("h:") and second.created_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert second.author.id == "news.example.org" and second.author.name == "News & Views"


def test_rss_author_email_form_keeps_the_name():
    rss = (
        b'<rss version="2.0"><channel><title>t</title><item><title>x</title>'
        b"<author>jane@example.com (Jane Doe)</author><guid>http://e.com/1</guid></item></channel></rss>"
    )
    (mention,), _ = map_feed(feedparser.parse(rss), "http://e.com/feed", "Blog", NOW)
    assert mention.author.name == "Jane Doe" and mention.community == "Blog"


def test_ids_without_guid_are_stable_and_feed_scoped():
    entry = {"title": "Hello", "published": "Tue, 10 Nov 2026 04:00:00 GMT"}
    assert entry_native_id(entry, "http://a/feed", "Hello") == entry_native_id(dict(entry), "http://a/feed", "Hello")
    assert entry_native_id(entry, "http://a/feed", "Hello") != entry_native_id(entry, "http://b/feed", "Hello")
    assert entry_native_id({"guid": "7"}, "http://a/feed", None) != entry_native_id(
        {"guid": "7"}, "http://b/feed", None
    )


def test_entries_without_title_and_text_are_skipped_not_raised():
    rss = b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid></item></channel></rss>'
    mentions, problems = map_feed(feedparser.parse(rss), "http://e.com/feed", None, NOW)
    assert mentions == [] and problems == []
