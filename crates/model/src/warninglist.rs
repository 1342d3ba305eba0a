//! MISP warning lists: values known to be benign or too common to alert on, and the matching rules of their types.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::observable::{Observable, ObservableKind};

/// A MISP warning list (`list.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningList {
    pub name: String,
    pub description: String,
    /// MISP list type: string, substring, hostname, cidr, regex.
    pub list_type: String,
    pub version: i64,
    pub entries: Vec<String>,
    pub matching_attributes: Vec<String>,
}

/// Warning lists compiled for fast membership tests of normalised observables.
#[derive(Debug, Default)]
pub struct WarningSet {
    exact: std::collections::HashMap<String, Vec<usize>>,
    hostnames: std::collections::HashMap<String, Vec<usize>>,
    v4: Vec<(ipnet::Ipv4Net, usize)>,
    v6: Vec<(ipnet::Ipv6Net, usize)>,
    substrings: Vec<(String, usize)>,
    names: Vec<String>,
}

impl WarningSet {
    pub fn new(lists: &[WarningList]) -> Self {
        let mut s = WarningSet::default();
        for (i, wl) in lists.iter().enumerate() {
            s.names.push(wl.name.clone());
            for e in &wl.entries {
                let e = e.trim();
                if e.is_empty() {
                    continue;
                }
                match wl.list_type.as_str() {
                    "cidr" => {
                        if let Ok(n) = e.parse::<ipnet::Ipv4Net>() {
                            s.v4.push((n, i));
                        } else if let Ok(n) = e.parse::<ipnet::Ipv6Net>() {
                            s.v6.push((n, i));
                        } else if let Ok(a) = e.parse::<std::net::Ipv4Addr>() {
                            s.v4.push((ipnet::Ipv4Net::from(a), i));
                        } else if let Ok(a) = e.parse::<std::net::Ipv6Addr>() {
                            s.v6.push((ipnet::Ipv6Net::from(a), i));
                        }
                    }
                    "hostname" => {
                        let h = e
                            .trim_start_matches("*.")
                            .trim_start_matches('.')
                            .trim_end_matches('.')
                            .to_ascii_lowercase();
                        s.hostnames.entry(h).or_default().push(i);
                    }
                    "substring" => s.substrings.push((e.to_ascii_lowercase(), i)),
                    // Regex lists are rare and slow to evaluate; treat their entries as literal strings.
                    _ => s.exact.entry(e.to_ascii_lowercase()).or_default().push(i),
                }
            }
        }
        s
    }

    /// Names of the lists a normalised observable is on (empty when none).
    pub fn hits(&self, o: &Observable) -> Vec<&str> {
        let mut idx: HashSet<usize> = HashSet::new();
        let v = o.value.to_ascii_lowercase();
        if let Some(l) = self.exact.get(&v) {
            idx.extend(l);
        }
        let host = match o.kind {
            ObservableKind::Domain => Some(v.clone()),
            ObservableKind::Url => url::Url::parse(&o.value)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string)),
            ObservableKind::Email => v.rsplit_once('@').map(|(_, d)| d.to_string()),
            _ => None,
        };
        if let Some(h) = host {
            if let Some(l) = self.exact.get(&h) {
                idx.extend(l);
            }
            let mut rest = h.as_str();
            loop {
                if let Some(l) = self.hostnames.get(rest) {
                    idx.extend(l);
                }
                match rest.split_once('.') {
                    Some((_, r)) if r.contains('.') => rest = r,
                    _ => break,
                }
            }
        }
        match o.kind {
            ObservableKind::Ipv4 => {
                if let Ok(a) = v
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .parse::<std::net::Ipv4Addr>()
                {
                    idx.extend(
                        self.v4
                            .iter()
                            .filter(|(n, _)| n.contains(&a))
                            .map(|(_, i)| *i),
                    );
                }
            }
            ObservableKind::Ipv6 => {
                if let Ok(a) = v
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .parse::<std::net::Ipv6Addr>()
                {
                    idx.extend(
                        self.v6
                            .iter()
                            .filter(|(n, _)| n.contains(&a))
                            .map(|(_, i)| *i),
                    );
                }
            }
            _ => {}
        }
        for (sub, i) in &self.substrings {
            if v.contains(sub.as_str()) {
                idx.insert(*i);
            }
        }
        let mut out: Vec<usize> = idx.into_iter().collect();
        out.sort_unstable();
        out.into_iter().map(|i| self.names[i].as_str()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_and_cidr_lists() {
        let lists = vec![
            WarningList {
                name: "top".into(),
                description: String::new(),
                list_type: "hostname".into(),
                version: 1,
                entries: vec!["google.com".into()],
                matching_attributes: vec![],
            },
            WarningList {
                name: "dns".into(),
                description: String::new(),
                list_type: "cidr".into(),
                version: 1,
                entries: vec!["8.8.8.0/24".into()],
                matching_attributes: vec![],
            },
        ];
        let s = WarningSet::new(&lists);
        let d = |v: &str| Observable::detect(v).unwrap();
        assert_eq!(s.hits(&d("mail.google.com")), vec!["top"]);
        assert!(s.hits(&d("notgoogle.com")).is_empty());
        assert_eq!(s.hits(&d("8.8.8.8")), vec!["dns"]);
        assert!(s.hits(&d("8.8.9.8")).is_empty());
        assert_eq!(s.hits(&d("https://www.google.com/x")), vec!["top"]);
    }
}
