//! What a message says: one notice version, or a day's digest of several, rendered for e-mail (subject, plain
//! text, HTML) and for webhooks (JSON). The TLP is stated in the subject, in a header and at the top of every body;
//! a digest carries the most restrictive TLP of what it gathers.

use serde_json::{json, Value};
use vigil_model::Tlp;
use vigil_vuln::notice::html_escape;
use vigil_vuln::Notice;

/// One notice version inside a message.
#[derive(Debug, Clone)]
pub struct Item {
    pub notice: Notice,
    pub version: i64,
    pub tlp: Tlp,
}

/// A message to one channel.
#[derive(Debug, Clone)]
pub struct Message {
    /// Stable over retries (built from the delivery ids), so receivers can drop duplicates.
    pub id: String,
    pub member_id: i64,
    pub digest: bool,
    pub items: Vec<Item>,
}

/// What each TLP level asks of the recipient (FIRST TLP 2.0), said once at the top of every message.
pub fn tlp_rule(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "no limit on disclosure.",
        Tlp::Green => "share within your community, not through publicly accessible channels.",
        Tlp::Amber => {
            "share only within your organisation and with its clients, on a need-to-know basis."
        }
        Tlp::AmberStrict => "share only within your own organisation, on a need-to-know basis.",
        Tlp::Red => "for the named recipients only: do not forward or share it with anyone else.",
    }
}

impl Message {
    /// The most restrictive TLP of the notices it carries.
    pub fn tlp(&self) -> Tlp {
        self.items.iter().map(|i| i.tlp).max().unwrap_or(Tlp::Red)
    }

    pub fn banner(&self) -> String {
        let t = self.tlp();
        format!("{}: {}", t.label(), tlp_rule(t))
    }

    pub fn subject(&self) -> String {
        let tlp = self.tlp().label();
        match (self.digest, self.items.as_slice()) {
            (false, [i]) => {
                let n = &i.notice;
                let what = if i.version > 1 {
                    format!("Vigil notice update (version {})", i.version)
                } else {
                    "Vigil notice".to_string()
                };
                let title: String = n.title.chars().take(120).collect();
                format!(
                    "[{tlp}] {what}: {} {} (priority {}, deadline {})",
                    n.vulnerability,
                    title,
                    n.priority.as_str(),
                    n.deadline.as_deref().unwrap_or("next system upgrade")
                )
            }
            (_, items) => format!(
                "[{tlp}] Vigil daily digest: {} notice{} ({})",
                items.len(),
                if items.len() == 1 { "" } else { "s" },
                items
                    .iter()
                    .take(5)
                    .map(|i| i.notice.vulnerability.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if items.len() > 5 { ", ..." } else { "" }
            ),
        }
    }

    /// The plain-text body: the TLP first, then each notice as Markdown (readable as it is).
    pub fn plain(&self) -> String {
        let mut s = format!("{}\n\n", self.banner());
        if self.digest {
            s.push_str(&format!(
                "Your daily digest of Vigil notices: {} notice version{}.\n\n",
                self.items.len(),
                if self.items.len() == 1 { "" } else { "s" }
            ));
        }
        for (k, i) in self.items.iter().enumerate() {
            if k > 0 {
                s.push_str(
                    "\n----------------------------------------------------------------\n\n",
                );
            }
            if i.version > 1 {
                s.push_str(&format!(
                    "(Version {} of this notice: the facts changed.)\n\n",
                    i.version
                ));
            }
            s.push_str(&i.notice.to_markdown());
        }
        s.push_str(&format!("\n{}\n", self.banner()));
        s
    }

    /// The HTML body: the TLP first, then each notice's HTML rendering (all source text escaped by it).
    pub fn html(&self) -> String {
        let mut s =
            String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        s.push_str(&format!(
            "<title>{}</title></head><body>\n",
            html_escape(&self.subject())
        ));
        s.push_str(&format!(
            "<p style=\"font-weight:bold\">{}</p>\n",
            html_escape(&self.banner())
        ));
        for (k, i) in self.items.iter().enumerate() {
            if k > 0 {
                s.push_str("<hr>\n");
            }
            if i.version > 1 {
                s.push_str(&format!(
                    "<p><em>Version {} of this notice: the facts changed.</em></p>\n",
                    i.version
                ));
            }
            let page = i.notice.to_html();
            // The notice renders as a whole page; only its body goes into the message.
            let body = page
                .split_once("<body>")
                .map(|(_, b)| b)
                .and_then(|b| b.rsplit_once("</body>").map(|(b, _)| b))
                .unwrap_or(&page);
            s.push_str(body);
        }
        s.push_str("</body></html>\n");
        s
    }

    /// The webhook body.
    pub fn json(&self) -> Value {
        let tlp = self.tlp();
        let notices: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                let mut v = i.notice.to_json();
                v["version"] = json!(i.version);
                v["tlp"] = json!(i.tlp.as_str());
                v
            })
            .collect();
        json!({
            "type": if self.digest { "vigil.notice.digest" } else { "vigil.notice" },
            "id": self.id,
            "member": self.member_id,
            "tlp": tlp.as_str(),
            "tlp_label": tlp.label(),
            "tlp_rule": tlp_rule(tlp),
            "notices": notices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(vuln: &str, tlp: Tlp) -> Notice {
        let v = json!({
            "id": format!("id-{vuln}"), "fingerprint": "fp", "member": "2", "vulnerability": vuln, "aliases": [],
            "title": "Template <injection> & more", "priority": "act", "deadline": "2026-01-31",
            "deadline_rule": "KEV: 3 weeks", "reasons": ["in KEV"], "assets": [], "fixed": ["1.5"],
            "remediation": [], "summary": {"what": "w", "why": "y", "action": "Update.", "by_when": "By 2026-01-31."},
            "references": [], "in_kev": true, "epss": null, "cvss_score": null, "status": "new", "tlp": tlp,
            "created": "2026-01-10T00:00:00Z"
        });
        serde_json::from_value(v).unwrap_or_else(|e| panic!("fixture: {e}"))
    }

    fn msg(items: Vec<(&str, Tlp, i64)>, digest: bool) -> Message {
        Message {
            id: "m".into(),
            member_id: 2,
            digest,
            items: items
                .into_iter()
                .map(|(v, t, version)| Item {
                    notice: notice(v, t),
                    version,
                    tlp: t,
                })
                .collect(),
        }
    }

    #[test]
    fn tlp_in_subject_and_every_body() {
        let m = msg(vec![("CVE-2024-99001", Tlp::AmberStrict, 1)], false);
        assert!(
            m.subject()
                .starts_with("[TLP:AMBER+STRICT] Vigil notice: CVE-2024-99001"),
            "{}",
            m.subject()
        );
        assert!(m.subject().contains("deadline 2026-01-31"));
        assert!(m
            .plain()
            .starts_with("TLP:AMBER+STRICT: share only within your own organisation"));
        assert!(m.html().contains("TLP:AMBER+STRICT"));
        assert!(
            m.html().contains("Template &lt;injection&gt; &amp; more"),
            "escaped"
        );
        assert_eq!(m.json()["tlp"], "amber+strict");
        let u = msg(vec![("CVE-2024-99001", Tlp::AmberStrict, 2)], false);
        assert!(
            u.subject().contains("update (version 2)"),
            "{}",
            u.subject()
        );
    }

    #[test]
    fn a_digest_carries_the_most_restrictive_tlp() {
        let m = msg(
            vec![
                ("CVE-1", Tlp::AmberStrict, 1),
                ("CVE-2", Tlp::Red, 1),
                ("CVE-3", Tlp::AmberStrict, 3),
            ],
            true,
        );
        assert_eq!(m.tlp(), Tlp::Red);
        assert!(
            m.subject()
                .starts_with("[TLP:RED] Vigil daily digest: 3 notices (CVE-1, CVE-2, CVE-3)"),
            "{}",
            m.subject()
        );
        let plain = m.plain();
        assert!(plain.starts_with("TLP:RED: for the named recipients only"));
        assert!(["CVE-1", "CVE-2", "CVE-3"]
            .iter()
            .all(|c| plain.contains(c)));
        assert_eq!(m.json()["type"], "vigil.notice.digest");
        assert_eq!(m.json()["notices"].as_array().map(Vec::len), Some(3));
    }
}
