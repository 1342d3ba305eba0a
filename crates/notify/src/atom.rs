//! A member's notices as an Atom feed (RFC 4287), for feed readers. A pure function: the server authenticates
//! the member (its API token, like the rest of the API) and passes only that member's notices, so the feed is
//! the member's own channel and may carry its TLP:RED notices. Each entry states its TLP in the title, as a
//! category and at the top of its content. One entry per notice version (the id ends in the version), so a
//! reader shows a changed notice as a new item and the same facts never twice.

use vigil_model::Tlp;
use vigil_store::NoticeRecord;
use vigil_vuln::Notice;

use crate::message::tlp_rule;

/// What the feed says about itself.
#[derive(Debug, Clone)]
pub struct AtomFeed<'a> {
    /// The feed's id: a URN or its URL.
    pub id: &'a str,
    pub title: &'a str,
    /// The feed's own URL, if known (`rel="self"`).
    pub self_url: Option<&'a str>,
    /// Used when there is no entry (RFC 3339).
    pub updated: &'a str,
}

/// Escapes text for XML content and attributes, dropping the control characters XML 1.0 cannot carry.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => o.push(c),
        }
    }
    o
}

/// Renders the notices (the current version of each, newest first as given) as an Atom document.
pub fn atom_feed(feed: &AtomFeed<'_>, notices: &[NoticeRecord]) -> String {
    let updated = notices
        .iter()
        .map(|r| r.updated_at.as_str())
        .max()
        .filter(|u| !u.is_empty())
        .unwrap_or(feed.updated);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    s.push_str(&format!("  <id>{}</id>\n", xml(feed.id)));
    s.push_str(&format!("  <title>{}</title>\n", xml(feed.title)));
    s.push_str(&format!("  <updated>{}</updated>\n", xml(updated)));
    s.push_str("  <author><name>Vigil</name></author>\n");
    s.push_str("  <generator>Vigil</generator>\n");
    if let Some(u) = feed.self_url {
        s.push_str(&format!(
            "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
            xml(u)
        ));
    }
    for r in notices {
        let notice: Option<Notice> = serde_json::from_str(&r.json).ok();
        let tlp = r.tlp.or(notice.as_ref().map(|n| n.tlp)).unwrap_or(Tlp::Red);
        let title = notice
            .as_ref()
            .map(|n| n.title.as_str())
            .unwrap_or(r.vulnerability.as_str());
        s.push_str("  <entry>\n");
        s.push_str(&format!(
            "    <id>urn:vigil:notice:{}:v{}</id>\n",
            xml(&r.id),
            r.version
        ));
        s.push_str(&format!(
            "    <title>[{}] {}: {} (priority {}, deadline {})</title>\n",
            tlp.label(),
            xml(&r.vulnerability),
            xml(title),
            xml(&r.priority),
            xml(r.deadline.as_deref().unwrap_or("next system upgrade"))
        ));
        s.push_str(&format!("    <updated>{}</updated>\n", xml(&r.updated_at)));
        s.push_str(&format!(
            "    <published>{}</published>\n",
            xml(&r.created_at)
        ));
        s.push_str(&format!(
            "    <category term=\"{}\" label=\"{}\"/>\n",
            tlp.as_str(),
            tlp.label()
        ));
        s.push_str(&format!(
            "    <category term=\"status:{}\"/>\n",
            xml(&r.status)
        ));
        if let Some(n) = &notice {
            s.push_str(&format!(
                "    <summary>{}</summary>\n",
                xml(&n.summary.what)
            ));
            for u in n.references.iter().take(3) {
                s.push_str(&format!(
                    "    <link rel=\"related\" href=\"{}\"/>\n",
                    xml(u)
                ));
            }
            let page = n.to_html();
            let body = page
                .split_once("<body>")
                .map(|(_, b)| b)
                .and_then(|b| b.rsplit_once("</body>").map(|(b, _)| b))
                .unwrap_or(&page);
            let html = format!(
                "<p><strong>{}: {}</strong></p>{body}",
                tlp.label(),
                tlp_rule(tlp)
            );
            s.push_str(&format!(
                "    <content type=\"html\">{}</content>\n",
                xml(&html)
            ));
        } else {
            s.push_str(&format!(
                "    <content type=\"text\">{}: {}</content>\n",
                tlp.label(),
                tlp_rule(tlp)
            ));
        }
        s.push_str("  </entry>\n");
    }
    s.push_str("</feed>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, version: i64, tlp: Tlp, json: &str) -> NoticeRecord {
        NoticeRecord {
            id: id.into(),
            member_id: 2,
            vulnerability: "CVE-2024-99001".into(),
            version,
            status: "new".into(),
            priority: "act".into(),
            deadline: Some("2026-01-31".into()),
            fingerprint: "f".into(),
            tlp: Some(tlp),
            json: json.into(),
            created_at: "2026-01-10T12:00:00.000000Z".into(),
            updated_at: format!("2026-01-1{version}T12:00:00.000000Z"),
            acknowledged_at: None,
            resolved_at: None,
            status_note: None,
        }
    }

    #[test]
    fn well_formed_atom_with_tlp_and_escaping() {
        let feed = AtomFeed {
            id: "urn:vigil:member:2:notices",
            title: "Notices for <Agency & Co>",
            self_url: Some("https://vigil.example/api/v1/members/2/notices.atom?x=1&y=2"),
            updated: "2026-01-01T00:00:00Z",
        };
        let out = atom_feed(
            &feed,
            &[
                rec("a", 2, Tlp::Red, "{not json \u{1} <"),
                rec("b", 1, Tlp::AmberStrict, "{}"),
            ],
        );
        let doc = roxmltree::Document::parse(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "feed");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2005/Atom")
        );
        fn child<'a, 'i>(
            n: roxmltree::Node<'a, 'i>,
            name: &str,
        ) -> Option<roxmltree::Node<'a, 'i>> {
            n.children().find(|c| c.tag_name().name() == name)
        }
        // RFC 4287: a feed has id, title, updated and an author (or every entry has one).
        for k in ["id", "title", "updated", "author"] {
            assert!(child(root, k).is_some(), "feed lacks {k}");
        }
        assert_eq!(
            child(root, "title").and_then(|t| t.text()),
            Some("Notices for <Agency & Co>")
        );
        assert_eq!(
            child(root, "updated").and_then(|t| t.text()),
            Some("2026-01-12T12:00:00.000000Z")
        );
        let entries: Vec<_> = root
            .children()
            .filter(|c| c.tag_name().name() == "entry")
            .collect();
        assert_eq!(entries.len(), 2);
        for e in &entries {
            for k in ["id", "title", "updated", "content"] {
                assert!(child(*e, k).is_some(), "entry lacks {k}");
            }
        }
        let t0 = child(entries[0], "title")
            .and_then(|t| t.text())
            .unwrap_or("");
        assert!(t0.starts_with("[TLP:RED] CVE-2024-99001"), "{t0}");
        assert_eq!(
            child(entries[0], "id").and_then(|t| t.text()),
            Some("urn:vigil:notice:a:v2")
        );
        assert!(entries[1]
            .children()
            .any(|c| c.tag_name().name() == "category"
                && c.attribute("term") == Some("amber+strict")));
        // A notice that cannot be read still gets an entry that states its TLP.
        let c0 = child(entries[0], "content")
            .and_then(|t| t.text())
            .unwrap_or("");
        assert!(c0.starts_with("TLP:RED"), "{c0}");
    }

    #[test]
    fn empty_feed_is_valid() {
        let feed = AtomFeed {
            id: "urn:x",
            title: "t",
            self_url: None,
            updated: "2026-01-01T00:00:00Z",
        };
        let out = atom_feed(&feed, &[]);
        assert!(roxmltree::Document::parse(&out).is_ok(), "{out}");
        assert!(out.contains("<updated>2026-01-01T00:00:00Z</updated>"));
    }
}
