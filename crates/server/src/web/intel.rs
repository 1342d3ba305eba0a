//! What the dashboard computes from the knowledge base, always within one reader's scope: the origin of each
//! actor, activity by origin and by malware family over time, actor profiles (techniques, software, campaigns,
//! indicators, exploited vulnerabilities) and the neighbourhood graph of an object.
//!
//! ## The origin rule
//! An actor (`intrusion-set` or `threat-actor`) gets the first of:
//! 1. its own MISP galaxy attribution: `x_misp_country`, then `x_misp_state_sponsor` (the galaxy's `meta.country` and
//!    `meta.cfr-suspected-state-sponsor`, kept by the galaxy reader), read as a country;
//! 2. a `located-at` relationship to a `location` with a `country` (the galaxy reader writes these from the same
//!    meta fields; STIX producers write them too);
//! 3. the same, one `attributed-to` hop away (an ATT&CK intrusion set attributed to a MISP threat actor, or the
//!    reverse), so ATT&CK groups inherit the country MISP gives their cluster;
//! 4. otherwise "criminal" when the actor is described as such: `threat_actor_types` holding `crime-syndicate` or
//!    `criminal`, a `primary_motivation` of `personal-gain`, or a description that says financially motivated,
//!    cybercrime or ransomware;
//! 5. otherwise "unknown".
//!
//! Countries map to the buckets Russia (RU), China (CN), Iran (IR), North Korea (KP) and "other state".
//! A state attribution always wins over "criminal" (a state-sponsored group doing ransomware stays with its state).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use vigil_model::StixObject;
use vigil_store::{ReadScope, Related, StoreError};

use vigil_store::ServerStore;

/// Where an actor comes from, as the dashboard groups actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Russia,
    China,
    Iran,
    NorthKorea,
    Criminal,
    OtherState,
    Unknown,
}

impl Origin {
    pub const ALL: [Origin; 7] = [
        Origin::Russia,
        Origin::China,
        Origin::Iran,
        Origin::NorthKorea,
        Origin::Criminal,
        Origin::OtherState,
        Origin::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Origin::Russia => "Russia",
            Origin::China => "China",
            Origin::Iran => "Iran",
            Origin::NorthKorea => "North Korea",
            Origin::Criminal => "Criminal",
            Origin::OtherState => "Other state",
            Origin::Unknown => "Unknown",
        }
    }

    /// CSS class suffix for the chart colour.
    pub fn class(self) -> &'static str {
        match self {
            Origin::Russia => "o-ru",
            Origin::China => "o-cn",
            Origin::Iran => "o-ir",
            Origin::NorthKorea => "o-kp",
            Origin::Criminal => "o-crime",
            Origin::OtherState => "o-other",
            Origin::Unknown => "o-unknown",
        }
    }

    fn of_country(code: &str) -> Origin {
        match code {
            "RU" => Origin::Russia,
            "CN" => Origin::China,
            "IR" => Origin::Iran,
            "KP" => Origin::NorthKorea,
            _ => Origin::OtherState,
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Step 1 of the rule: the actor's own galaxy attribution, as an ISO code.
pub fn own_country(o: &StixObject) -> Option<&'static str> {
    ["x_misp_country", "x_misp_state_sponsor", "country"]
        .iter()
        .flat_map(|k| strings(o.get(k)))
        .find_map(vigil_formats::galaxy::country_code)
}

/// Step 4 of the rule.
pub fn looks_criminal(o: &StixObject) -> bool {
    let types = strings(o.get("threat_actor_types"));
    if types
        .iter()
        .any(|t| matches!(*t, "crime-syndicate" | "criminal"))
    {
        return true;
    }
    if o.str("primary_motivation") == Some("personal-gain") {
        return true;
    }
    let d = o.str("description").unwrap_or("").to_lowercase();
    [
        "financially motivated",
        "financially-motivated",
        "cybercrim",
        "ransomware",
    ]
    .iter()
    .any(|k| d.contains(k))
}

/// A location object's country code.
fn location_country(o: &StixObject) -> Option<&'static str> {
    o.str("country")
        .and_then(vigil_formats::galaxy::country_code)
}

pub fn is_actor_type(t: &str) -> bool {
    matches!(t, "intrusion-set" | "threat-actor")
}

/// One actor as the overview knows it.
#[derive(Debug, Clone)]
pub struct ActorInfo {
    pub id: String,
    pub name: String,
    pub origin: Origin,
    pub country: Option<&'static str>,
}

/// Everything the overview charts need, for one scope.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Actors by origin.
    pub actors_by_origin: BTreeMap<Origin, u64>,
    /// Links of actors of each origin (relationships both ways, by year of their `modified`; reports naming them,
    /// by year of publication).
    pub activity: BTreeMap<Origin, BTreeMap<i32, u64>>,
    /// Relationships pointing at each malware family (indicators that indicate it, actors that use it), by month
    /// (`YYYY-MM`) of the relationship's `modified`.
    pub families: BTreeMap<String, BTreeMap<String, u64>>,
    /// Malware family ids by name, for links.
    pub family_ids: HashMap<String, String>,
    /// Top actors (most linked objects) with their origin.
    pub top_actors: Vec<(ActorInfo, u64)>,
    /// Counts by type, source, TLP and age.
    pub counts: vigil_store::ScopedCounts,
}

fn year_of(s: &str) -> Option<i32> {
    s.get(0..4)?.parse().ok()
}

fn month_of(s: &str) -> Option<String> {
    let m = s.get(0..7)?;
    (m.as_bytes().get(4) == Some(&b'-')).then(|| m.to_string())
}

/// The actors a scope may see, with their origin by the rule above (steps 1-5), from one pass over actors,
/// locations and the relationships that carry country and attribution.
pub fn actors(
    st: &dyn ServerStore,
    scope: &ReadScope,
) -> Result<HashMap<String, ActorInfo>, StoreError> {
    let mut out: HashMap<String, ActorInfo> = HashMap::new();
    let mut criminal: HashSet<String> = HashSet::new();
    st.scan_visible(
        scope,
        &["intrusion-set", "threat-actor"],
        false,
        None,
        &mut |o| {
            let c = own_country(&o.object);
            if looks_criminal(&o.object) {
                criminal.insert(o.object.id().to_string());
            }
            out.insert(
                o.object.id().to_string(),
                ActorInfo {
                    id: o.object.id().to_string(),
                    name: o.object.name().unwrap_or(o.object.id()).to_string(),
                    origin: c.map(Origin::of_country).unwrap_or(Origin::Unknown),
                    country: c,
                },
            );
            Ok(())
        },
    )?;
    let mut countries: HashMap<String, &'static str> = HashMap::new();
    st.scan_visible(scope, &["location"], false, None, &mut |o| {
        if let Some(c) = location_country(&o.object) {
            countries.insert(o.object.id().to_string(), c);
        }
        Ok(())
    })?;
    let mut located: Vec<(String, &'static str)> = Vec::new();
    let mut attributed: Vec<(String, String)> = Vec::new();
    let ids: Vec<&str> = out.keys().map(String::as_str).collect();
    // Only the actors' own links, through the graph index: never a scan of every relationship.
    st.scan_links(scope, &ids, true, &mut |o| {
        let (Some(t), Some(s), Some(d)) = (
            o.object.str("relationship_type"),
            o.object.str("source_ref"),
            o.object.str("target_ref"),
        ) else {
            return Ok(());
        };
        match t {
            "located-at" | "originates-from" => {
                if let Some(c) = countries.get(d) {
                    located.push((s.to_string(), c));
                }
            }
            "attributed-to" if out.contains_key(d) => {
                attributed.push((s.to_string(), d.to_string()));
            }
            _ => {}
        }
        Ok(())
    })?;
    for (id, c) in located {
        if let Some(a) = out.get_mut(&id) {
            if a.country.is_none() {
                a.country = Some(c);
                a.origin = Origin::of_country(c);
            }
        }
    }
    for (a, b) in attributed {
        for (from, to) in [(&a, &b), (&b, &a)] {
            let c = out.get(from).and_then(|x| x.country);
            if let (Some(c), Some(t)) = (c, out.get_mut(to)) {
                if t.country.is_none() {
                    t.country = Some(c);
                    t.origin = Origin::of_country(c);
                }
            }
        }
    }
    for id in criminal {
        if let Some(a) = out.get_mut(&id) {
            if a.country.is_none() {
                a.origin = Origin::Criminal;
            }
        }
    }
    Ok(out)
}

/// Computes the overview's charts for a scope.
pub fn overview(st: &dyn ServerStore, scope: &ReadScope) -> Result<Overview, StoreError> {
    let actors = actors(st, scope)?;
    let mut ov = Overview {
        counts: st.scoped_counts(scope, &vigil_model::time::now())?,
        ..Overview::default()
    };
    for a in actors.values() {
        *ov.actors_by_origin.entry(a.origin).or_default() += 1;
    }
    let mut families: HashMap<String, String> = HashMap::new();
    st.scan_visible(scope, &["malware"], false, None, &mut |o| {
        if let Some(n) = o.object.name() {
            families.insert(o.object.id().to_string(), n.to_string());
        }
        Ok(())
    })?;
    let mut per_actor: HashMap<String, u64> = HashMap::new();
    let mut bump = |ov: &mut Overview, actor: &str, when: &str, n: u64| {
        if let Some(a) = actors.get(actor) {
            if let Some(y) = year_of(when) {
                *ov.activity
                    .entry(a.origin)
                    .or_default()
                    .entry(y)
                    .or_default() += n;
            }
            *per_actor.entry(actor.to_string()).or_default() += n;
        }
    };
    // Aggregated in the database over the graph indexes: a store with a million indicator links answers fast.
    let actor_ids: Vec<&str> = actors.keys().map(String::as_str).collect();
    for from_source in [true, false] {
        for (id, year, n) in st.link_counts(scope, &actor_ids, from_source, 4)? {
            bump(&mut ov, &id, &year, n);
        }
    }
    let family_ids: Vec<&str> = families.keys().map(String::as_str).collect();
    for (id, month, n) in st.link_counts(scope, &family_ids, false, 7)? {
        if let (Some(name), Some(m)) = (families.get(&id), month_of(&month)) {
            *ov.families
                .entry(name.clone())
                .or_default()
                .entry(m)
                .or_default() += n;
            ov.family_ids.insert(name.clone(), id.clone());
        }
    }
    st.scan_visible(scope, &["report"], false, None, &mut |o| {
        let when = o
            .object
            .str("published")
            .or_else(|| o.object.str("created"))
            .unwrap_or("")
            .to_string();
        for r in strings(o.object.get("object_refs")) {
            bump(&mut ov, r, &when, 1);
        }
        Ok(())
    })?;
    let mut top: Vec<(ActorInfo, u64)> = per_actor
        .into_iter()
        .filter_map(|(id, n)| actors.get(&id).map(|a| (a.clone(), n)))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.cmp(&b.0.name)));
    top.truncate(10);
    ov.top_actors = top;
    Ok(ov)
}

type CacheKey = (String, i64, ReadScope, String);

/// Overviews by (data directory, store change counter, scope, hour): the charts scan the knowledge base, so they
/// are computed once per change of the store and reader scope (and at least hourly, for the age buckets), not on
/// every page view.
pub fn cached_overview(
    st: &dyn ServerStore,
    data: &str,
    scope: &ReadScope,
) -> Result<Arc<Overview>, StoreError> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Arc<Overview>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let hour: String = vigil_model::time::now().chars().take(13).collect();
    let key = (
        data.to_string(),
        crate::counter::change_counter(st)?,
        *scope,
        hour,
    );
    if let Some(o) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(o);
    }
    let o = Arc::new(overview(st, scope)?);
    if let Ok(mut c) = cache.lock() {
        if c.len() > 64 {
            c.clear();
        }
        c.insert(key, o.clone());
    }
    Ok(o)
}

/// The relationships of `id` that the scope may see: the relationship and its far end must both be visible (an id
/// never stored reveals nothing), exactly as the API's object view.
pub fn visible_related(
    st: &dyn ServerStore,
    id: &str,
    scope: &ReadScope,
) -> Result<Vec<Related>, StoreError> {
    let mut out = Vec::new();
    for r in st.related(id)? {
        let rel_ok = st.get_visible(&r.relationship_id, scope)?.is_some();
        let far_ok = st.get_visible(&r.id, scope)?.is_some() || st.get(&r.id)?.is_none();
        if rel_ok && far_ok {
            out.push(r);
        }
    }
    Ok(out)
}

/// A node of the neighbourhood graph.
#[derive(Debug, Clone)]
pub struct GraphNode {
    pub id: String,
    pub type_: String,
    pub label: String,
    /// 0 for the centre, 1 or 2 hops out.
    pub hop: u8,
    /// Index of the node it hangs from (the centre for hop 1).
    pub parent: usize,
}

/// A neighbourhood graph: nodes and labelled edges between node indexes.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<(usize, usize, String)>,
}

/// Types worth a second hop: they tie indicators to actors and actors to techniques and vulnerabilities.
fn expands(t: &str) -> bool {
    matches!(
        t,
        "malware" | "tool" | "intrusion-set" | "threat-actor" | "campaign"
    )
}

/// Order of interest for the first hop when an object has more neighbours than the picture can hold.
fn rank(t: &str) -> u8 {
    match t {
        "intrusion-set" | "threat-actor" => 0,
        "malware" | "tool" | "campaign" => 1,
        "vulnerability" => 2,
        "attack-pattern" => 3,
        "indicator" => 4,
        _ => 5,
    }
}

fn label_of(r: &Related) -> String {
    let n = r
        .name
        .clone()
        .or_else(|| r.external_id.clone())
        .unwrap_or_else(|| r.id.clone());
    match (&r.external_id, &r.name) {
        (Some(e), Some(n)) if r.type_ == "attack-pattern" => format!("{e} {n}"),
        _ => n,
    }
}

/// The graph one hop out, plus a second hop from the actors, malware, tools and campaigns (and a third when the
/// picture is still small: indicator -> malware -> actor -> techniques), bounded so that it stays readable.
pub fn graph(
    st: &dyn ServerStore,
    centre: &StixObject,
    scope: &ReadScope,
) -> Result<Graph, StoreError> {
    const HOP1: usize = 18;
    const HOP2_FROM: usize = 5;
    let mut g = Graph::default();
    let centre_label = centre
        .name()
        .map(str::to_string)
        .or_else(|| centre.str("pattern").map(str::to_string))
        .unwrap_or_else(|| centre.id().to_string());
    g.nodes.push(GraphNode {
        id: centre.id().to_string(),
        type_: centre.type_().to_string(),
        label: centre_label,
        hop: 0,
        parent: 0,
    });
    let mut index: HashMap<String, usize> = HashMap::new();
    index.insert(centre.id().to_string(), 0);
    let mut first = visible_related(st, centre.id(), scope)?;
    first.sort_by_key(|r| (rank(&r.type_), r.name.clone()));
    let mut expand = Vec::new();
    for r in first.into_iter() {
        if let Some(&i) = index.get(&r.id) {
            g.edges.push((0, i, r.relationship_type.clone()));
            continue;
        }
        if g.nodes.len() > HOP1 {
            break;
        }
        let i = g.nodes.len();
        g.nodes.push(GraphNode {
            id: r.id.clone(),
            type_: r.type_.clone(),
            label: label_of(&r),
            hop: 1,
            parent: 0,
        });
        index.insert(r.id.clone(), i);
        let (a, b) = if r.direction == "out" { (0, i) } else { (i, 0) };
        g.edges.push((a, b, r.relationship_type.clone()));
        if expands(&r.type_) && expand.len() < HOP2_FROM {
            expand.push(i);
        }
    }
    // A small neighbourhood (an indicator has one family) is worth a third hop, so that the chain indicator ->
    // malware -> actor -> techniques and vulnerabilities shows at once.
    let mut frontier = expand;
    for hop in 2..=3u8 {
        if hop == 3 && g.nodes.len() > 10 {
            break;
        }
        let mut next = Vec::new();
        for p in frontier {
            added_from(st, scope, &mut g, &mut index, p, hop, &mut next)?;
        }
        frontier = next;
    }
    Ok(g)
}

/// Adds up to `HOP_EACH` neighbours of node `p` (no indicators: a family's can number thousands) at `hop`; nodes
/// worth expanding further go to `next`.
fn added_from(
    st: &dyn ServerStore,
    scope: &ReadScope,
    g: &mut Graph,
    index: &mut HashMap<String, usize>,
    p: usize,
    hop: u8,
    next: &mut Vec<usize>,
) -> Result<(), StoreError> {
    const HOP_EACH: usize = 6;
    let pid = g.nodes[p].id.clone();
    let mut rel = visible_related(st, &pid, scope)?;
    rel.sort_by_key(|r| (rank(&r.type_), r.name.clone()));
    let mut added = 0;
    for r in rel {
        let linked = |g: &Graph, i: usize| {
            g.edges
                .iter()
                .any(|(a, b, _)| (*a == p && *b == i) || (*a == i && *b == p))
        };
        if let Some(&i) = index.get(&r.id) {
            if i != p && !linked(g, i) {
                let (a, b) = if r.direction == "out" { (p, i) } else { (i, p) };
                g.edges.push((a, b, r.relationship_type.clone()));
            }
            continue;
        }
        if r.type_ == "indicator" || added >= HOP_EACH {
            continue;
        }
        let i = g.nodes.len();
        g.nodes.push(GraphNode {
            id: r.id.clone(),
            type_: r.type_.clone(),
            label: label_of(&r),
            hop,
            parent: p,
        });
        index.insert(r.id.clone(), i);
        let (a, b) = if r.direction == "out" { (p, i) } else { (i, p) };
        g.edges.push((a, b, r.relationship_type.clone()));
        if expands(&r.type_) && next.len() < 3 {
            next.push(i);
        }
        added += 1;
    }
    Ok(())
}

/// A technique in an actor's profile.
#[derive(Debug, Clone)]
pub struct Technique {
    pub id: String,
    pub external_id: String,
    pub name: String,
    pub tactics: Vec<String>,
    /// How many paths lead to it: 2 for the actor's own use, 1 per software or campaign of the actor using it.
    pub heat: u32,
}

/// An actor's profile, across its `attributed-to` cluster (an ATT&CK group and the MISP threat actor it is
/// attributed to describe one actor: country from one, techniques from the other).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub cluster: Vec<(String, String, String)>,
    pub aliases: Vec<String>,
    pub origin: Option<Origin>,
    pub country: Option<&'static str>,
    pub techniques: Vec<Technique>,
    pub software: Vec<Related>,
    pub campaigns: Vec<Related>,
    pub indicators: Vec<Related>,
    pub vulnerabilities: Vec<Related>,
    pub targets: Vec<Related>,
}

/// Builds an actor's profile within a scope.
pub fn profile(
    st: &dyn ServerStore,
    actor: &StixObject,
    scope: &ReadScope,
) -> Result<Profile, StoreError> {
    let mut p = Profile::default();
    let mut members: Vec<StixObject> = vec![actor.clone()];
    let first = visible_related(st, actor.id(), scope)?;
    for r in &first {
        if r.relationship_type == "attributed-to" && is_actor_type(&r.type_) {
            if let Some(o) = st.get_visible(&r.id, scope)? {
                members.push(o.object);
            }
        }
    }
    let mut aliases: Vec<String> = Vec::new();
    let mut techniques: HashMap<String, u32> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut users_of_techniques: Vec<String> = Vec::new();
    for m in &members {
        p.cluster.push((
            m.id().to_string(),
            m.type_().to_string(),
            m.name().unwrap_or("").to_string(),
        ));
        for a in m.aliases() {
            if !aliases.iter().any(|x| x.eq_ignore_ascii_case(a)) && Some(a) != actor.name() {
                aliases.push(a.to_string());
            }
        }
        if p.country.is_none() {
            p.country = own_country(m);
        }
        let rels = if m.id() == actor.id() {
            first.clone()
        } else {
            visible_related(st, m.id(), scope)?
        };
        for r in rels {
            if !seen.insert(format!("{}|{}|{}", r.relationship_type, r.direction, r.id)) {
                continue;
            }
            match (
                r.relationship_type.as_str(),
                r.direction.as_str(),
                r.type_.as_str(),
            ) {
                ("uses", "out", "attack-pattern") => {
                    *techniques.entry(r.id.clone()).or_default() += 2;
                }
                ("uses", "out", "malware" | "tool") => {
                    users_of_techniques.push(r.id.clone());
                    p.software.push(r);
                }
                ("attributed-to", "in", "campaign") => {
                    users_of_techniques.push(r.id.clone());
                    p.campaigns.push(r);
                }
                ("indicates", "in", "indicator") => p.indicators.push(r),
                ("targets" | "exploits", "out", "vulnerability") => p.vulnerabilities.push(r),
                ("targets", "out", _) => p.targets.push(r),
                ("located-at" | "originates-from", "out", "location") if p.country.is_none() => {
                    if let Some(l) = st.get_visible(&r.id, scope)? {
                        p.country = location_country(&l.object);
                    }
                }
                _ => {}
            }
        }
    }
    // Software and campaigns bring their own techniques, indicators and exploited vulnerabilities; so do the
    // families IOC lists made that are duplicates of the software (a list read before the galaxy).
    let mut i = 0;
    while i < users_of_techniques.len() {
        let u = users_of_techniques[i].clone();
        i += 1;
        for r in visible_related(st, &u, scope)? {
            if r.relationship_type == "duplicate-of"
                && r.direction == "in"
                && r.type_ == "malware"
                && !users_of_techniques.contains(&r.id)
            {
                users_of_techniques.push(r.id.clone());
                continue;
            }
            match (
                r.relationship_type.as_str(),
                r.direction.as_str(),
                r.type_.as_str(),
            ) {
                ("uses", "out", "attack-pattern") => {
                    *techniques.entry(r.id.clone()).or_default() += 1;
                }
                ("indicates", "in", "indicator")
                    if p.indicators.len() < 200 && !p.indicators.iter().any(|x| x.id == r.id) =>
                {
                    p.indicators.push(r);
                }
                ("targets" | "exploits", "out", "vulnerability")
                    if !p.vulnerabilities.iter().any(|x| x.id == r.id) =>
                {
                    p.vulnerabilities.push(r);
                }
                _ => {}
            }
        }
    }
    for (id, heat) in techniques {
        let Some(o) = st.get_visible(&id, scope)? else {
            continue;
        };
        let tactics: Vec<String> = o
            .object
            .get("kill_chain_phases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|k| {
                        k.get("kill_chain_name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.starts_with("mitre-"))
                    })
                    .filter_map(|k| k.get("phase_name").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        p.techniques.push(Technique {
            external_id: o.object.external_id().unwrap_or("").to_string(),
            name: o.object.name().unwrap_or("").to_string(),
            id,
            tactics,
            heat,
        });
    }
    p.techniques
        .sort_by(|a, b| a.external_id.cmp(&b.external_id));
    p.aliases = aliases;
    p.origin = p.country.map(Origin::of_country).or_else(|| {
        members
            .iter()
            .any(looks_criminal)
            .then_some(Origin::Criminal)
    });
    Ok(p)
}

/// ATT&CK Enterprise tactics in matrix order (columns of the heat map); tactics of other matrices follow.
pub const TACTICS: &[(&str, &str)] = &[
    ("reconnaissance", "Reconnaissance"),
    ("resource-development", "Resource Development"),
    ("initial-access", "Initial Access"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege-escalation", "Privilege Escalation"),
    ("defense-evasion", "Defense Evasion"),
    ("credential-access", "Credential Access"),
    ("discovery", "Discovery"),
    ("lateral-movement", "Lateral Movement"),
    ("collection", "Collection"),
    ("command-and-control", "Command and Control"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// For an indicator: the malware it indicates and the actors behind it (directly or through the malware).
pub fn indicator_context(
    st: &dyn ServerStore,
    indicator_id: &str,
    scope: &ReadScope,
) -> Result<(Vec<Related>, Vec<Related>), StoreError> {
    let mut families = Vec::new();
    let mut actors: Vec<Related> = Vec::new();
    for r in visible_related(st, indicator_id, scope)? {
        if r.relationship_type != "indicates" || r.direction != "out" {
            continue;
        }
        if is_actor_type(&r.type_) {
            if !actors.iter().any(|a| a.id == r.id) {
                actors.push(r);
            }
        } else if matches!(r.type_.as_str(), "malware" | "tool" | "campaign") {
            families.push(r);
        }
    }
    // A family an IOC list made stands for the galaxy cluster or ATT&CK software it is a duplicate of.
    let mut i = 0;
    while i < families.len() {
        let id = families[i].id.clone();
        i += 1;
        for a in visible_related(st, &id, scope)? {
            let behind = (a.relationship_type == "uses" && a.direction == "in")
                || (a.relationship_type == "attributed-to" && a.direction == "out");
            if behind && is_actor_type(&a.type_) && !actors.iter().any(|x| x.id == a.id) {
                actors.push(a);
            } else if a.relationship_type == "duplicate-of"
                && a.direction == "out"
                && !families.iter().any(|x| x.id == a.id)
            {
                families.push(a);
            }
        }
    }
    Ok((families, actors))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;
    use vigil_model::{Provenance, Tlp};
    use vigil_store::{PutMode, Store};

    fn obj(mut v: Value, t: Tlp) -> StixObject {
        v["spec_version"] = json!("2.1");
        v["created"] = json!("2026-01-01T00:00:00.000Z");
        v["modified"] = json!("2026-01-01T00:00:00.000Z");
        v["object_marking_refs"] = json!([t.marking_id()]);
        StixObject::from_value(v).expect("fixture")
    }

    /// A family an IOC list made that is `duplicate-of` a galaxy cluster stands for it: an indicator of the list's
    /// family names the cluster and the actor using the cluster, and the actor's profile lists the indicator;
    /// through a relationship the scope may not see, neither.
    #[test]
    fn a_list_family_stands_for_the_cluster_it_duplicates() {
        let list = "malware--0b1c2d3e-4f50-4617-8283-94a5b6c7d801";
        let cluster = "malware--0b1c2d3e-4f50-4617-8283-94a5b6c7d802";
        let actor = "intrusion-set--0b1c2d3e-4f50-4617-8283-94a5b6c7d803";
        let ind = "indicator--0b1c2d3e-4f50-4617-8283-94a5b6c7d804";
        let rel = |n: u8, kind: &str, s: &str, t: &str, tlp: Tlp| {
            obj(
                json!({"type": "relationship", "id": format!("relationship--0b1c2d3e-4f50-4617-8283-94a5b6c7d8{n:02}"),
                       "relationship_type": kind, "source_ref": s, "target_ref": t}),
                tlp,
            )
        };
        for dup_tlp in [Tlp::Green, Tlp::Red] {
            let dir = tempfile::tempdir().expect("tempdir");
            let st = vigil_store::sqlite::SqliteStore::open(dir.path()).expect("open");
            let objs = [
                obj(
                    json!({"type": "malware", "id": list, "name": "teststealer", "is_family": true}),
                    Tlp::Green,
                ),
                obj(
                    json!({"type": "malware", "id": cluster, "name": "Test Stealer", "is_family": true}),
                    Tlp::Clear,
                ),
                obj(
                    json!({"type": "intrusion-set", "id": actor, "name": "Test Group"}),
                    Tlp::Clear,
                ),
                obj(
                    json!({"type": "indicator", "id": ind, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
                           "pattern": "[domain-name:value = 'loader-panel.example']"}),
                    Tlp::Green,
                ),
                rel(11, "indicates", ind, list, Tlp::Green),
                rel(12, "uses", actor, cluster, Tlp::Clear),
                rel(13, "duplicate-of", list, cluster, dup_tlp),
            ];
            let prov = Provenance {
                source: "test".into(),
                ingested_at: "2026-01-01T00:00:00Z".into(),
                original_id: None,
                file: None,
            };
            st.write(&mut |tx| {
                for o in &objs {
                    tx.put(o, &prov, PutMode::Source)?;
                }
                Ok(())
            })
            .expect("write");
            let scope = ReadScope {
                all: false,
                open_max: Some(Tlp::Green),
                member: None,
                default_tlp: Tlp::Amber,
            };
            let (families, actors) = indicator_context(&st, ind, &scope).expect("context");
            let families: Vec<&str> = families.iter().map(|f| f.id.as_str()).collect();
            let actors: Vec<&str> = actors.iter().map(|a| a.id.as_str()).collect();
            let cluster_actor = st.get(actor).expect("get").expect("actor").object;
            let indicators: Vec<String> = profile(&st, &cluster_actor, &scope)
                .expect("profile")
                .indicators
                .into_iter()
                .map(|r| r.id)
                .collect();
            if dup_tlp == Tlp::Green {
                assert_eq!(families, [list, cluster]);
                assert_eq!(actors, [actor]);
                assert_eq!(indicators, [ind]);
            } else {
                assert_eq!(families, [list]);
                assert!(actors.is_empty(), "{actors:?}");
                assert!(indicators.is_empty(), "{indicators:?}");
            }
        }
    }
}
