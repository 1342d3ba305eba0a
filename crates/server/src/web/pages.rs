//! The knowledge pages: overview, search, object, actor. Every read is scoped by the viewer ([`Viewer::scope`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use vigil_model::Tlp;
use vigil_store::{NoticeFilter, Related, StoredObject};

use super::charts::{self, Bar};
use super::intel::{self, Origin};
use super::member::{overdue, visible_object};
use super::{
    blocking, html_page, layout, object_href, short_time, tlp_badge, urlencode, Nav, Viewer,
    WebError,
};
use crate::AppState;

fn tlp_class(t: &str) -> String {
    format!("t-{}", t.replace('+', "-"))
}

/// Type names as people say them.
fn type_label(t: &str) -> &str {
    match t {
        "intrusion-set" => "intrusion set",
        "threat-actor" => "threat actor",
        "attack-pattern" => "technique",
        "course-of-action" => "mitigation",
        "x-mitre-tactic" => "tactic",
        other => other,
    }
}

fn display_name(o: &vigil_model::StixObject) -> String {
    o.name()
        .map(str::to_string)
        .or_else(|| o.str("pattern").map(str::to_string))
        .or_else(|| o.str("value").map(str::to_string))
        .unwrap_or_else(|| o.id().to_string())
}

pub async fn overview(State(st): State<Arc<AppState>>, v: Viewer) -> Result<Response, WebError> {
    let sc = v.scope();
    let store = st.store.clone();
    let data = st.data.display().to_string();
    let member_filter = (!v.principal.operator).then_some(v.principal.member_id);
    let (ov, reports, notices) = blocking(move || {
        let ov = intel::cached_overview(&*store, &data, &sc)?;
        let mut reports = Vec::new();
        store.scan_visible(&sc, &["report"], true, Some(200), &mut |o| {
            reports.push(o);
            Ok(())
        })?;
        let when = |o: &StoredObject| {
            o.object
                .str("published")
                .unwrap_or(o.object.version())
                .to_string()
        };
        reports.sort_by_key(|o| std::cmp::Reverse(when(o)));
        reports.truncate(8);
        let notices = store.notices(&NoticeFilter {
            member: member_filter,
            status: None,
        })?;
        Ok((ov, reports, notices))
    })
    .await?;
    let counts = &ov.counts;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let open: Vec<_> = notices.iter().filter(|n| n.status != "resolved").collect();
    let late: Vec<_> = open.iter().filter(|n| overdue(n, &today)).collect();
    let get = |t: &str| counts.by_type.get(t).copied().unwrap_or(0);
    let actors = get("intrusion-set") + get("threat-actor");

    // Activity by origin, per year over the last ten years.
    let this_year: i32 = today.get(0..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
    let years: Vec<i32> = (this_year - 9..=this_year).collect();
    let origin_series: Vec<(String, String, Vec<u64>)> = Origin::ALL
        .iter()
        .filter(|o| !matches!(o, Origin::Unknown))
        .map(|o| {
            let per = ov.activity.get(o);
            (
                o.label().to_string(),
                o.class().to_string(),
                years
                    .iter()
                    .map(|y| per.and_then(|p| p.get(y)).copied().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    let year_labels: Vec<String> = years.iter().map(|y| y.to_string()).collect();

    // Malware families, per month over the last twelve months, top six by volume.
    let months: Vec<String> = {
        let mut out = Vec::new();
        let (mut y, mut m) = (
            this_year,
            today
                .get(5..7)
                .and_then(|m| m.parse::<i32>().ok())
                .unwrap_or(1),
        );
        for _ in 0..12 {
            out.push(format!("{y:04}-{m:02}"));
            m -= 1;
            if m == 0 {
                m = 12;
                y -= 1;
            }
        }
        out.reverse();
        out
    };
    let mut fams: Vec<(&String, u64)> = ov
        .families
        .iter()
        .map(|(name, per)| {
            (
                name,
                months
                    .iter()
                    .map(|m| per.get(m).copied().unwrap_or(0))
                    .sum(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    fams.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    fams.truncate(6);
    let family_series: Vec<(String, String, Vec<u64>)> = fams
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let per = &ov.families[*name];
            (
                (*name).clone(),
                format!("s{i}"),
                months
                    .iter()
                    .map(|m| per.get(m).copied().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    let month_labels: Vec<String> = months
        .iter()
        .map(|m| m.get(2..).unwrap_or(m).to_string())
        .collect();

    let type_bars: Vec<Bar> = {
        let mut t: Vec<_> = counts.by_type.iter().collect();
        t.sort_by(|a, b| b.1.cmp(a.1));
        t.into_iter()
            .take(10)
            .map(|(k, n)| Bar {
                label: type_label(k).to_string(),
                value: *n,
                class: "s-type".into(),
                href: Some(format!("/ui/search?type={}", urlencode(k))),
            })
            .collect()
    };
    let tlp_bars: Vec<Bar> = Tlp::ALL
        .iter()
        .map(|t| Bar {
            label: t.label().to_string(),
            value: counts.by_tlp.get(t.as_str()).copied().unwrap_or(0),
            class: tlp_class(t.as_str()),
            href: Some(format!("/ui/search?tlp={}", urlencode(t.as_str()))),
        })
        .collect();
    let source_bars: Vec<Bar> = {
        let mut s: Vec<_> = counts.by_source.iter().collect();
        s.sort_by(|a, b| b.1.cmp(a.1));
        s.into_iter()
            .take(8)
            .map(|(k, n)| Bar {
                label: k.clone(),
                value: *n,
                class: "s-source".into(),
                href: Some(format!("/ui/search?source={}", urlencode(k))),
            })
            .collect()
    };
    let age_bars: Vec<Bar> = counts
        .by_age
        .iter()
        .map(|(k, n)| Bar {
            label: k.clone(),
            value: *n,
            class: "s-age".into(),
            href: None,
        })
        .collect();
    let origin_bars: Vec<Bar> = Origin::ALL
        .iter()
        .map(|o| Bar {
            label: o.label().to_string(),
            value: ov.actors_by_origin.get(o).copied().unwrap_or(0),
            class: o.class().into(),
            href: None,
        })
        .collect();
    let mut by_prio: BTreeMap<u8, (String, u64)> = BTreeMap::new();
    for n in &open {
        let r = match n.priority.as_str() {
            "act" => 0,
            "attend" => 1,
            "track*" => 2,
            _ => 3,
        };
        by_prio
            .entry(r)
            .or_insert_with(|| (n.priority.clone(), 0))
            .1 += 1;
    }
    let prio_bars: Vec<Bar> = by_prio
        .values()
        .map(|(p, n)| Bar {
            label: p.clone(),
            value: *n,
            class: format!("prio-{}", p.replace('*', "x")),
            href: None,
        })
        .collect();

    let body = html! {
        div.page-head {
            h1 { "Threat landscape" }
            p.muted { "What " (v.member_name) " may see, as of " (short_time(&vigil_model::time::now())) " UTC." }
        }
        div.kpis {
            a.kpi href="/ui/search" { span.n { (charts::number(counts.total)) } span.l { "objects" } }
            a.kpi href="/ui/search?type=indicator" { span.n { (charts::number(get("indicator"))) } span.l { "indicators" } }
            a.kpi href="/ui/search?type=intrusion-set" { span.n { (charts::number(actors)) } span.l { "actors" } }
            a.kpi href="/ui/search?type=malware" { span.n { (charts::number(get("malware"))) } span.l { "malware families" } }
            a.kpi href="/ui/search?type=vulnerability" { span.n { (charts::number(get("vulnerability"))) } span.l { "vulnerabilities" } }
            a.kpi href="/ui/member#notices" { span.n { (open.len()) } span.l { "open notices" } }
            a.kpi.warn[!late.is_empty()] href="/ui/member#notices" { span.n { (late.len()) } span.l { "overdue" } }
        }
        div.grid2 {
            section.card #chart-origin {
                h2 { "Activity by actor origin" }
                p.hint { "Relationships of actors of each origin and reports naming them, by year. Origin: MISP galaxy country or state sponsor, a located-at link, or an attributed-to link; else criminal when described so." }
                (charts::stacked(&year_labels, &origin_series, "Activity by actor origin per year"))
            }
            section.card {
                h2 { "Actors by origin" }
                (charts::bars(&origin_bars, "Actors by origin"))
                @if !ov.top_actors.is_empty() {
                    h3 { "Most linked actors" }
                    ul.chips {
                        @for (a, n) in &ov.top_actors {
                            li { a href=(object_href(&a.id)) { span class=(format!("dot {}", a.origin.class())) {} (a.name) } span.muted { " " (n) } }
                        }
                    }
                }
            }
        }
        div.grid2 {
            section.card #chart-families {
                h2 { "Malware families over time" }
                p.hint { "Relationships pointing at each family (mostly its indicators), by month, last twelve months." }
                (charts::stacked(&month_labels, &family_series, "Indicators per malware family per month"))
            }
            section.card {
                h2 { "Open notices by priority" }
                @if open.is_empty() { p.muted { "No open notices." } } @else { (charts::bars(&prio_bars, "Open notices by priority")) }
                h3 { "Overdue" }
                @if late.is_empty() { p.muted { "Nothing overdue." } }
                ul.list {
                    @for n in late.iter().take(8) {
                        li { a href=(format!("/ui/members/{}#notice-{}", n.member_id, urlencode(&n.id))) { (n.vulnerability) } span.muted { " · " (n.priority) " · due " (n.deadline.clone().unwrap_or_default()) } }
                    }
                }
            }
        }
        div.grid4 {
            section.card { h2 { "By type" } (charts::bars(&type_bars, "Objects by type")) }
            section.card { h2 { "By TLP" } (charts::bars(&tlp_bars, "Objects by TLP")) }
            section.card { h2 { "By source" } (charts::bars(&source_bars, "Objects by source")) }
            section.card { h2 { "By age" } (charts::bars(&age_bars, "Objects by age of their latest version")) }
        }
        section.card {
            h2 { "Newest reports" }
            @if reports.is_empty() { p.muted { "No reports yet." } }
            ul.list {
                @for r in &reports {
                    li {
                        (tlp_badge(r.tlp.unwrap_or(st.cfg.default_tlp))) " "
                        a href=(object_href(r.object.id())) { (display_name(&r.object)) }
                        span.muted { " · " (short_time(r.object.str("published").unwrap_or(r.object.version()))) }
                    }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Overview", Some(&v), Nav::Overview, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    tlp: String,
    #[serde(default)]
    source: String,
}

/// One search result row.
struct Row {
    obj: StoredObject,
    sources: Vec<String>,
}

const SEARCH_TYPES: &[&str] = &[
    "indicator",
    "malware",
    "tool",
    "intrusion-set",
    "threat-actor",
    "campaign",
    "attack-pattern",
    "vulnerability",
    "report",
    "identity",
    "location",
    "course-of-action",
    "sighting",
    "note",
];

pub async fn search(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let q: SearchQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| WebError::BadRequest(format!("bad query: {e}")))?;
    if q.q.len() > 1000 || q.q.chars().any(char::is_control) {
        return Err(WebError::BadRequest(
            "the search must be at most 1000 characters without control characters".into(),
        ));
    }
    let tlp = if q.tlp.is_empty() {
        None
    } else {
        Some(Tlp::parse(&q.tlp).ok_or_else(|| WebError::BadRequest("unknown TLP".into()))?)
    };
    let sc = v.scope();
    let store = st.store.clone();
    let data = st.data.display().to_string();
    let (qq, ty, src) = (q.q.clone(), q.type_.clone(), q.source.clone());
    let default_tlp = st.cfg.default_tlp;
    let (rows, sources) = blocking(move || {
        let ov_sources: Vec<String> = {
            let ov = intel::cached_overview(&*store, &data, &sc)?;
            let mut s: Vec<_> = ov.counts.by_source.clone().into_iter().collect();
            s.sort_by_key(|x| std::cmp::Reverse(x.1));
            s.into_iter().map(|(k, _)| k).take(40).collect()
        };
        let keep = |o: &StoredObject| -> bool {
            (ty.is_empty()
                || o.object.type_() == ty
                || (ty == "intrusion-set" && o.object.type_() == "threat-actor"))
                && tlp.is_none_or(|t| o.tlp.unwrap_or(default_tlp) == t)
        };
        let mut found: Vec<StoredObject> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let query = qq.trim();
        if !query.is_empty() {
            // Exact first: an indicator value as pasted (defanged or not), a name, an alias, an ATT&CK id.
            for o in store.resolve(query)? {
                if let Some(o) = store.get_visible(o.object.id(), &sc)? {
                    if keep(&o) && seen.insert(o.object.id().to_string()) {
                        found.push(o);
                    }
                }
            }
            for h in store.search(query, 400)? {
                if found.len() >= 200 {
                    break;
                }
                if seen.contains(&h.id) {
                    continue;
                }
                if let Some(o) = store.get_visible(&h.id, &sc)? {
                    if keep(&o) && seen.insert(h.id.clone()) {
                        found.push(o);
                    }
                }
            }
        } else if !ty.is_empty() || tlp.is_some() || !src.is_empty() {
            let types: Vec<&str> = if ty.is_empty() {
                SEARCH_TYPES.to_vec()
            } else if ty == "intrusion-set" {
                vec!["intrusion-set", "threat-actor"]
            } else {
                vec![ty.as_str()]
            };
            store.scan_visible(
                &sc,
                &types,
                true,
                Some(if src.is_empty() && tlp.is_none() {
                    100
                } else {
                    2000
                }),
                &mut |o| {
                    if keep(&o) && found.len() < 1000 {
                        found.push(o);
                    }
                    Ok(())
                },
            )?;
        }
        let mut rows = Vec::new();
        for o in found {
            let sources: Vec<String> = {
                let mut s: Vec<String> = store
                    .provenance(o.object.id())?
                    .into_iter()
                    .map(|p| p.source)
                    .collect();
                s.sort();
                s.dedup();
                s
            };
            if !src.is_empty() && !sources.iter().any(|s| s == &src) {
                continue;
            }
            rows.push(Row { obj: o, sources });
            if rows.len() >= 100 {
                break;
            }
        }
        Ok((rows, ov_sources))
    })
    .await?;
    let searched =
        !q.q.trim().is_empty() || !q.type_.is_empty() || !q.tlp.is_empty() || !q.source.is_empty();
    let body = html! {
        div.page-head { h1 { "Search" } }
        form.filters method="get" action="/ui/search" {
            input.grow type="search" name="q" value=(q.q) placeholder="APT28, T1566, LummaC2, hxxps://evil[.]example/…" autofocus aria-label="Search text";
            select name="type" aria-label="Type" {
                option value="" { "any type" }
                @for t in SEARCH_TYPES { option value=(t) selected[q.type_ == *t] { (type_label(t)) } }
            }
            select name="tlp" aria-label="TLP" {
                option value="" { "any TLP" }
                @for t in Tlp::ALL { option value=(t.as_str()) selected[q.tlp == t.as_str()] { (t.label()) } }
            }
            select name="source" aria-label="Source" {
                option value="" { "any source" }
                @for s in &sources { option value=(s) selected[q.source == *s] { (s) } }
            }
            button.primary type="submit" { "Search" }
        }
        @if searched {
            section.card {
                p.muted.count { (rows.len()) @if rows.len() >= 100 { "+" } @if rows.len() == 1 { " result" } @else { " results" } }
                @if !rows.is_empty() {
                    table.data #results {
                        thead { tr { th { "Name" } th { "Type" } th { "TLP" } th { "Sources" } th { "Modified" } } }
                        tbody {
                            @for r in &rows {
                                tr {
                                    td {
                                        a href=(object_href(r.obj.object.id())) { (display_name(&r.obj.object)) }
                                        @if let Some(e) = r.obj.object.external_id() { " " span.muted { (e) } }
                                    }
                                    td { span.pill { (type_label(r.obj.object.type_())) } }
                                    td { (tlp_badge(r.obj.tlp.unwrap_or(st.cfg.default_tlp))) }
                                    td.small { (r.sources.join(", ")) }
                                    td.small { (short_time(r.obj.object.version())) }
                                }
                            }
                        }
                    }
                }
            }
        } @else {
            p.muted { "Type a name, an alias, an ATT&CK id or an indicator value (defanged is fine), or pick a filter." }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout("Search", Some(&v), Nav::Search, body),
    ))
}

fn render_value(v: &Value) -> Markup {
    match v {
        Value::String(s) if vigil_model::ids::is_valid_id(s) => {
            html! { a href=(object_href(s)) { code { (s) } } }
        }
        Value::String(s) if s.starts_with("https://") || s.starts_with("http://") => {
            html! { span.url { (s) } }
        }
        Value::String(s) => html! { (s) },
        Value::Array(a) if a.iter().all(|x| x.is_string()) => html! {
            ul.inline { @for x in a { li { (render_value(x)) } } }
        },
        Value::Null => html! {},
        Value::Bool(_) | Value::Number(_) => html! { (v.to_string()) },
        other => html! { pre.json { (serde_json::to_string_pretty(other).unwrap_or_default()) } },
    }
}

fn rel_table(rels: &[Related]) -> Markup {
    html! {
        table.data {
            thead { tr { th { "Relationship" } th { "Object" } th { "Type" } } }
            tbody {
                @for r in rels {
                    tr {
                        td.small { @if r.direction == "out" { "→ " (r.relationship_type) } @else { "← " (r.relationship_type) } }
                        td { a href=(object_href(&r.id)) { (r.name.clone().or_else(|| r.external_id.clone()).unwrap_or_else(|| r.id.clone())) } @if let (Some(e), Some(_)) = (&r.external_id, &r.name) { " " span.muted { (e) } } }
                        td { span.pill { (type_label(&r.type_)) } }
                    }
                }
            }
        }
    }
}

fn valid_id(id: &str) -> Result<(), WebError> {
    if vigil_model::ids::is_valid_id(id) {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

fn audit_read(st: &AppState, v: &Viewer, o: &StoredObject) {
    let t = o.tlp.unwrap_or(st.cfg.default_tlp);
    if t >= Tlp::Amber {
        st.audit.record(
            &v.actor(),
            "web.object",
            o.object.id(),
            serde_json::json!({"tlp": t.as_str()}),
        );
    }
}

pub async fn object(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    valid_id(&id)?;
    let store = st.store.clone();
    let vv = v.clone();
    let staff = v.principal.is_operator_staff();
    let page = blocking(move || {
        let Some(o) = visible_object(&*store, &vv, &id)? else {
            return Err(WebError::NotFound);
        };
        let sc = vv.scope();
        let rels = intel::visible_related(&*store, &id, &sc)?;
        let graph = intel::graph(&*store, &o.object, &sc)?;
        let prov = store.provenance(&id)?;
        let versions = store.versions(&id)?;
        let context = if o.object.type_() == "indicator" {
            Some(intel::indicator_context(&*store, &id, &sc)?)
        } else {
            None
        };
        // Who an object is shared with is the operator's business, not another member's.
        let shares = if staff { store.shares_of(&id)? } else { vec![] };
        Ok((o, rels, graph, prov, versions, context, shares))
    })
    .await?;
    let (o, rels, graph, prov, versions, context, shares) = page;
    audit_read(&st, &v, &o);
    let tlp = o.tlp.unwrap_or(st.cfg.default_tlp);
    let obj = &o.object;
    let body = html! {
        div.page-head {
            span.pill { (type_label(obj.type_())) } " " (tlp_badge(tlp))
            @if obj.revoked() { " " span.pill.bad { "revoked" } }
            @if obj.deprecated() { " " span.pill.bad { "deprecated" } }
            h1 { (display_name(obj)) }
            @if let Some(e) = obj.external_id() { p.muted { (e) } }
            @if let Some(r) = obj.get("x_vigil_retraction").filter(|_| obj.revoked()) {
                p.retracted #retracted {
                    "Retracted by " (r["by"].as_str().unwrap_or("?")) " on " (short_time(r["at"].as_str().unwrap_or("")))
                    @if let Some(why) = r["reason"].as_str() { ": " (why) }
                    ". Hunts and exports leave it out; earlier versions are kept below."
                }
            }
            @if intel::is_actor_type(obj.type_()) { p { a.button href=(format!("/ui/actors/{}", urlencode(obj.id()))) { "Actor profile →" } } }
        }
        @if let Some((families, actors)) = &context {
            section.card.context #context {
                h2 { "What this indicator points to" }
                @if families.is_empty() && actors.is_empty() { p.muted { "Nothing linked yet." } }
                @if !families.is_empty() {
                    p { "Indicates " @for (i, f) in families.iter().enumerate() { @if i > 0 { ", " } a href=(object_href(&f.id)) { (f.name.clone().unwrap_or_else(|| f.id.clone())) } } }
                }
                @if !actors.is_empty() {
                    p { "Behind it: " @for (i, a) in actors.iter().enumerate() { @if i > 0 { ", " } a.actor-link href=(format!("/ui/actors/{}", urlencode(&a.id))) { (a.name.clone().unwrap_or_else(|| a.id.clone())) } } }
                }
            }
        }
        section.card #graph {
            h2 { "Relationships" }
            p.hint { "One hop out, a second from actors, malware, tools and campaigns, and a third while the picture is small. Click a node to pivot." }
            (charts::graph(&graph, object_href))
        }
        div.grid2 {
            section.card {
                h2 { "Properties" }
                table.props {
                    tbody {
                        @for (k, val) in obj.props() {
                            @if !matches!(k.as_str(), "type" | "object_marking_refs") {
                                tr { th { (k) } td { (render_value(val)) } }
                            }
                        }
                    }
                }
            }
            div {
                section.card {
                    h2 { "Markings" }
                    p { (tlp_badge(tlp)) @if o.tlp.is_none() { span.muted { " (unmarked: the operator's default)" } } }
                    ul.inline { @for m in obj.marking_refs() { li { code.small { (m) } } } }
                    @if !shares.is_empty() { p.small { "Shared with members: " (shares.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")) } }
                }
                section.card {
                    h2 { "Provenance" }
                    table.data {
                        thead { tr { th { "Source" } th { "Ingested" } th { "File" } } }
                        tbody { @for p in &prov { tr { td { (p.source) } td.small { (short_time(&p.ingested_at)) } td.small { (p.file.clone().unwrap_or_default()) } } } }
                    }
                }
                section.card {
                    h2 { "Versions" }
                    table.data {
                        thead { tr { th { "Modified" } th { "Added" } } }
                        tbody { @for x in versions.iter().rev() { tr { td { (short_time(x.object.version())) } td.small { (short_time(&x.added_at)) } } } }
                    }
                }
            }
        }
        @if !rels.is_empty() {
            section.card { h2 { "All relationships (" (rels.len()) ")" } (rel_table(&rels)) }
        }
        @if staff && !obj.revoked() && vigil_ingest::retract::retractable_type(obj.type_()) {
            section.card #retract {
                h2 { "Retract" }
                p.hint { "Withdraw this object: a revoked version (who, when, why) replaces it, hunts and exports leave it \
                    out, members who pulled it over TAXII receive the revocation, and its relationships and sightings go \
                    with it. A revocation is final." }
                form.actions method="post" action=(format!("/ui/objects/{}/retract", urlencode(obj.id()))) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="text" name="reason" required placeholder="Why (kept in the object and the audit log)";
                    button.danger name="action" value="retract" type="submit" { "Retract" }
                }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&display_name(obj), Some(&v), Nav::Search, body),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct RetractForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Retracts one object from its page (operator staff), as `vigil retract ID --reason ..`; back to the page.
pub async fn retract(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    let form: RetractForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    v.check_csrf(&form.csrf)?;
    if !v.principal.is_operator_staff() {
        return Err(WebError::Forbidden(
            "retracting needs an operator analyst or admin",
        ));
    }
    valid_id(&id)?;
    let reason = form.reason.trim().to_string();
    if reason.is_empty() {
        return Err(WebError::BadRequest(
            "say why the object is retracted".into(),
        ));
    }
    let store = st.store.clone();
    let how = vigil_ingest::retract::Retraction {
        by: format!("{} ({})", v.member_name, v.display),
        reason: Some(reason.clone()),
        now: chrono::Utc::now(),
        dry_run: false,
    };
    let sel = vigil_ingest::retract::Selection {
        keys: vec![id.clone()],
        ..Default::default()
    };
    let report = blocking(move || {
        vigil_ingest::retract::retract(store.as_ref(), &sel, &how).map_err(|e| match e {
            vigil_ingest::retract::RetractError::NotFound(_) => WebError::NotFound,
            vigil_ingest::retract::RetractError::Store(e) => WebError::Store(e),
            other => WebError::BadRequest(other.to_string()),
        })
    })
    .await?;
    st.audit.record(
        &v.actor(),
        "web.retract",
        &id,
        serde_json::json!({"retracted": report.retracted, "cascaded": report.cascaded, "reason": reason}),
    );
    let mut r = axum::response::Redirect::to(&object_href(&id)).into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    Ok(r)
}

pub async fn actor(
    State(st): State<Arc<AppState>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    valid_id(&id)?;
    let store = st.store.clone();
    let vv = v.clone();
    let (o, prof) = blocking(move || {
        let sc = vv.scope();
        let Some(o) = store.get_visible(&id, &sc)? else {
            return Err(WebError::NotFound);
        };
        if !intel::is_actor_type(o.object.type_()) {
            return Err(WebError::NotFound);
        }
        let prof = intel::profile(&*store, &o.object, &sc)?;
        Ok((o, prof))
    })
    .await?;
    audit_read(&st, &v, &o);
    let obj = &o.object;
    let tlp = o.tlp.unwrap_or(st.cfg.default_tlp);
    // Matrix columns: the Enterprise tactics in order, then any other tactic the techniques name.
    let mut columns: Vec<(String, String)> = intel::TACTICS
        .iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .collect();
    for t in &prof.techniques {
        for tac in &t.tactics {
            if !columns.iter().any(|(k, _)| k == tac) {
                columns.push((tac.clone(), tac.replace('-', " ")));
            }
        }
    }
    let per_col: Vec<Vec<&intel::Technique>> = columns
        .iter()
        .map(|(k, _)| {
            let mut v: Vec<&intel::Technique> = prof
                .techniques
                .iter()
                .filter(|t| t.tactics.contains(k))
                .collect();
            v.sort_by(|a, b| {
                b.heat
                    .cmp(&a.heat)
                    .then_with(|| a.external_id.cmp(&b.external_id))
            });
            v
        })
        .collect();
    let depth = per_col.iter().map(Vec::len).max().unwrap_or(0);
    let untactic: Vec<&intel::Technique> = prof
        .techniques
        .iter()
        .filter(|t| t.tactics.is_empty())
        .collect();
    let country = prof.country.map(|c| {
        format!(
            "{} ({c})",
            vigil_formats::galaxy::country_name(c).unwrap_or(c)
        )
    });
    let body = html! {
        div.page-head.actor-head {
            span.pill { (type_label(obj.type_())) } " " (tlp_badge(tlp))
            h1 #actor-name { (display_name(obj)) }
            @if !prof.aliases.is_empty() { p.aliases { "Also known as " (prof.aliases.join(", ")) } }
            p {
                @if let Some(or) = prof.origin { span class=(format!("origin {}", or.class())) { (or.label()) } " " }
                @if let Some(c) = &country { span.muted { "Country: " (c) } } @else { span.muted { "Country unknown" } }
                " · " a href=(format!("/ui/objects/{}", urlencode(obj.id()))) { "Graph and properties" }
            }
            @if prof.cluster.len() > 1 {
                p.small { "Same actor as: " @for (i, (cid, ty, name)) in prof.cluster.iter().skip(1).enumerate() { @if i > 0 { ", " } a href=(object_href(cid)) { (name) } " (" (type_label(ty)) ")" } }
            }
            @if let Some(d) = obj.str("description") { p.description { (readable(d)) } }
        }
        section.card #matrix {
            h2 { "Techniques (" (prof.techniques.len()) ")" }
            p.hint { "ATT&CK tactics as columns. Darker: used by the actor itself and by more of its software and campaigns." }
            @if prof.techniques.is_empty() { p.muted { "No techniques linked." } } @else {
                div.matrix-wrap {
                    table.matrix {
                        thead { tr { @for (_, l) in &columns { th { (l) } } } }
                        tbody {
                            @for row in 0..depth {
                                tr {
                                    @for col in &per_col {
                                        @if let Some(t) = col.get(row) {
                                            td class=(format!("h{}", t.heat.min(5))) {
                                                a href=(object_href(&t.id)) title=(format!("{} {} (heat {})", t.external_id, t.name, t.heat)) {
                                                    span.tid { (t.external_id) } " " (t.name)
                                                }
                                            }
                                        } @else { td.empty {} }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !untactic.is_empty() {
                    p.small { "Without a tactic: " @for t in &untactic { a href=(object_href(&t.id)) { (t.external_id) " " (t.name) } " " } }
                }
            }
        }
        div.grid2 {
            section.card #software { h2 { "Software (" (prof.software.len()) ")" } @if prof.software.is_empty() { p.muted { "None linked." } } @else { (rel_table(&prof.software)) } }
            section.card #campaigns { h2 { "Campaigns (" (prof.campaigns.len()) ")" } @if prof.campaigns.is_empty() { p.muted { "None linked." } } @else { (rel_table(&prof.campaigns)) } }
        }
        div.grid2 {
            section.card #indicators {
                h2 { "Indicators (" (prof.indicators.len()) ")" }
                @if prof.indicators.is_empty() { p.muted { "None linked." } }
                ul.list.cols { @for i in prof.indicators.iter().take(60) { li { a href=(object_href(&i.id)) { code { (i.name.clone().unwrap_or_else(|| i.id.clone())) } } } } }
            }
            section.card #vulnerabilities {
                h2 { "Exploited vulnerabilities (" (prof.vulnerabilities.len()) ")" }
                @if prof.vulnerabilities.is_empty() { p.muted { "None linked." } } @else { (rel_table(&prof.vulnerabilities)) }
                @if !prof.targets.is_empty() { h3 { "Targets" } (rel_table(&prof.targets)) }
            }
        }
    };
    Ok(html_page(
        StatusCode::OK,
        layout(&display_name(obj), Some(&v), Nav::Search, body),
    ))
}

/// ATT&CK descriptions as prose: `(Citation: X)` markers dropped, Markdown links `[text](url)` shown as their text.
fn readable(d: &str) -> String {
    let mut out = String::with_capacity(d.len());
    let mut rest = d;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("(Citation:") {
            match after.find(')') {
                Some(end) => {
                    rest = &after[end + 1..];
                    continue;
                }
                None => break,
            }
        }
        if let Some(after) = rest.strip_prefix('[') {
            if let Some(close) = after.find("](") {
                if let Some(end) = after[close + 2..].find(')') {
                    out.push_str(&after[..close]);
                    rest = &after[close + 2 + end + 1..];
                    continue;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptions_read_as_prose() {
        assert_eq!(
            super::readable("[APT28](https://attack.mitre.org/groups/G0007) is a group.(Citation: NSA 2020) It spies. [unclosed"),
            "APT28 is a group. It spies. [unclosed"
        );
        assert_eq!(super::readable("(Citation: broken"), "");
    }

    use super::*;

    #[test]
    fn values_render_escaped() {
        let m = render_value(&Value::String("<script>x</script>".into())).into_string();
        assert!(!m.contains("<script>"));
        let m = render_value(&serde_json::json!(
            "malware--0f1b5b4c-6f5b-4e0c-9b7e-2b8f1d7e6a01"
        ))
        .into_string();
        assert!(m.contains("/ui/objects/malware--"));
    }
}
