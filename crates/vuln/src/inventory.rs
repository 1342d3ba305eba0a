//! Software inventories: CycloneDX JSON (1.4–1.6), SPDX JSON 2.3, purl lists, CPE lists and the simple CSV
//! (`vendor,product,version,host,internet_facing,criticality`) for agencies without SBOM tooling, read into
//! [`Component`]s carrying exposure and mission criticality. Broken entries are reported with their location
//! and the rest is kept.

use serde::Serialize;
use serde_json::Value;

use crate::cpe::Cpe;
use crate::priority::Criticality;
use crate::purl::Purl;
use crate::Diagnostic;

/// One inventory component (a package, a product install, an asset's software).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Name (package name, or product for the CSV).
    pub name: String,
    /// Version as written, if known.
    pub version: Option<String>,
    /// Vendor / supplier / group, if known.
    pub vendor: Option<String>,
    /// Package URL, if given and valid.
    pub purl: Option<Purl>,
    /// CPE name, if given and valid.
    pub cpe: Option<Cpe>,
    /// Host the component runs on (CSV).
    pub host: Option<String>,
    /// Internet-facing (None: not stated).
    pub internet_facing: Option<bool>,
    /// Mission criticality (None: not stated).
    pub criticality: Option<Criticality>,
    /// Where it was read (`bom.json: components[3].components[0]`, `assets.csv:12`).
    pub location: String,
}

impl Component {
    /// A component with only a name and location.
    pub fn new(name: &str, location: &str) -> Component {
        Component {
            name: name.to_string(),
            version: None,
            vendor: None,
            purl: None,
            cpe: None,
            host: None,
            internet_facing: None,
            criticality: None,
            location: location.to_string(),
        }
    }

    /// The version to evaluate: the component's version, else the purl's, else a concrete CPE version.
    pub fn effective_version(&self) -> Option<String> {
        self.version
            .clone()
            .or_else(|| self.purl.as_ref().and_then(|p| p.version.clone()))
            .or_else(|| self.cpe.as_ref().and_then(Cpe::version_str))
    }
}

/// The inventory format detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryFormat {
    /// CycloneDX JSON.
    Cyclonedx,
    /// SPDX JSON.
    Spdx,
    /// One purl per line.
    PurlList,
    /// One CPE per line.
    CpeList,
    /// `vendor,product,version,host,internet_facing,criticality`.
    Csv,
    /// Not recognised.
    Unknown,
}

/// What reading an inventory produced.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    /// Detected format.
    pub format: InventoryFormat,
    /// The components read.
    pub items: Vec<Component>,
    /// One entry per broken component or line.
    pub errors: Vec<Diagnostic>,
}

fn diag(location: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        location: location.to_string(),
        message: message.into(),
    }
}

/// Reads an inventory of any supported format, detected from its content. `location` names the file in
/// diagnostics.
pub fn read_inventory(location: &str, bytes: &[u8]) -> Inventory {
    let mut inv = Inventory {
        format: InventoryFormat::Unknown,
        items: Vec::new(),
        errors: Vec::new(),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.trim_start_matches('\u{feff}'),
        Err(e) => {
            inv.errors.push(diag(
                location,
                format!("not UTF-8 (first bad byte at offset {})", e.valid_up_to()),
            ));
            return inv;
        }
    };
    let head = text.trim_start();
    if head.starts_with('{') {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                inv.errors.push(diag(location, format!("JSON: {e}")));
                return inv;
            }
        };
        if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX")
            || v.get("specVersion").is_some() && v.get("components").is_some()
        {
            inv.format = InventoryFormat::Cyclonedx;
            read_cyclonedx(location, &v, &mut inv);
        } else if v.get("spdxVersion").is_some() {
            inv.format = InventoryFormat::Spdx;
            read_spdx(location, &v, &mut inv);
        } else {
            inv.errors
                .push(diag(location, "JSON that is neither CycloneDX nor SPDX"));
        }
        return inv;
    }
    let first = head
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.to_ascii_lowercase().starts_with("pkg:") {
        inv.format = InventoryFormat::PurlList;
        read_lines(location, text, &mut inv, true);
    } else if first.to_ascii_lowercase().starts_with("cpe:") {
        inv.format = InventoryFormat::CpeList;
        read_lines(location, text, &mut inv, false);
    } else if first
        .to_ascii_lowercase()
        .replace(' ', "")
        .starts_with("vendor,product")
    {
        inv.format = InventoryFormat::Csv;
        read_csv(location, text, &mut inv);
    } else {
        inv.errors.push(diag(
            location,
            "not CycloneDX, SPDX, a purl list, a CPE list or a vendor,product,... CSV",
        ));
    }
    inv
}

/// The longest identifier, name, version or field an inventory may hold (real purls and CPEs are well under
/// 1 KiB). Longer ones are refused with a diagnostic: a damaged or hostile file's 2 GB "purl" would otherwise be
/// copied several times over into memory and stored.
pub const MAX_FIELD: usize = 4096;

/// `value` when it is at most [`MAX_FIELD`] bytes; else None, with a diagnostic that names `what` and its length
/// (not its text) and what became of the component (`then`).
fn bounded(
    inv: &mut Inventory,
    loc: &str,
    what: &str,
    then: &str,
    value: Option<String>,
) -> Option<String> {
    match value {
        Some(v) if v.len() > MAX_FIELD => {
            inv.errors.push(diag(
                loc,
                format!(
                    "{what} longer than {MAX_FIELD} bytes ({} bytes), {then}",
                    v.len()
                ),
            ));
            None
        }
        v => v,
    }
}

fn sv(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn cdx_component(c: &Value, loc: &str, inv: &mut Inventory) {
    let Some(obj) = c.as_object() else {
        inv.errors.push(diag(loc, "component is not an object"));
        return;
    };
    let name = sv(c, "name");
    if name.is_none() {
        inv.errors.push(diag(loc, "component without a name"));
    }
    match bounded(inv, loc, "name", "component skipped", name) {
        None => {}
        Some(name) => {
            let mut comp = Component::new(&name, loc);
            comp.version = bounded(
                inv,
                loc,
                "version",
                "component kept without version",
                sv(c, "version"),
            );
            let vendor = sv(c, "group")
                .or_else(|| {
                    c.pointer("/supplier/name")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .or_else(|| sv(c, "publisher"));
            comp.vendor = bounded(inv, loc, "vendor", "component kept without vendor", vendor);
            if let Some(p) = bounded(
                inv,
                loc,
                "purl",
                "component kept without purl",
                sv(c, "purl"),
            ) {
                match Purl::parse(&p) {
                    Ok(p) => comp.purl = Some(p),
                    Err(e) => inv
                        .errors
                        .push(diag(loc, format!("{e} (component kept without purl)"))),
                }
            }
            if let Some(p) = bounded(inv, loc, "cpe", "component kept without CPE", sv(c, "cpe")) {
                match Cpe::parse(&p) {
                    Ok(p) => comp.cpe = Some(p),
                    Err(e) => inv
                        .errors
                        .push(diag(loc, format!("{e} (component kept without CPE)"))),
                }
            }
            if matches!(obj.get("version"), Some(v) if !v.is_string() && !v.is_null()) {
                inv.errors.push(diag(
                    loc,
                    "version is not a string (component kept without version)",
                ));
            }
            inv.items.push(comp);
        }
    }
    if let Some(children) = c.get("components") {
        match children.as_array() {
            Some(list) => {
                for (i, ch) in list.iter().enumerate() {
                    cdx_component(ch, &format!("{loc}.components[{i}]"), inv);
                }
            }
            None => inv.errors.push(diag(loc, "`components` is not an array")),
        }
    }
}

fn read_cyclonedx(location: &str, v: &Value, inv: &mut Inventory) {
    if let Some(sv) = v.get("specVersion").and_then(Value::as_str) {
        if !matches!(sv, "1.2" | "1.3" | "1.4" | "1.5" | "1.6") {
            inv.errors.push(diag(
                location,
                format!("CycloneDX specVersion {sv} not in 1.2–1.6; read as 1.6"),
            ));
        }
    }
    if let Some(m) = v.pointer("/metadata/component") {
        // The described product itself, when it carries an identifier, is part of the inventory too.
        if m.get("purl").is_some() || m.get("cpe").is_some() {
            cdx_component(m, &format!("{location}: metadata.component"), inv);
        }
    }
    match v.get("components") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, c) in list.iter().enumerate() {
                cdx_component(c, &format!("{location}: components[{i}]"), inv);
            }
        }
        Some(_) => inv
            .errors
            .push(diag(location, "`components` is not an array")),
    }
}

fn read_spdx(location: &str, v: &Value, inv: &mut Inventory) {
    let Some(pkgs) = v.get("packages").and_then(Value::as_array) else {
        if v.get("packages").is_some() {
            inv.errors
                .push(diag(location, "`packages` is not an array"));
        }
        return;
    };
    for (i, p) in pkgs.iter().enumerate() {
        let loc = format!("{location}: packages[{i}]");
        let Some(name) = sv(p, "name") else {
            inv.errors.push(diag(&loc, "package without a name"));
            continue;
        };
        let Some(name) = bounded(inv, &loc, "name", "package skipped", Some(name)) else {
            continue;
        };
        let mut c = Component::new(&name, &loc);
        c.version = bounded(
            inv,
            &loc,
            "versionInfo",
            "package kept without version",
            sv(p, "versionInfo"),
        );
        let supplier = bounded(
            inv,
            &loc,
            "supplier",
            "package kept without vendor",
            sv(p, "supplier"),
        );
        c.vendor = supplier.map(|s| {
            let s = s.split_once(':').map_or(s.as_str(), |(_, r)| r).trim();
            s.split(" (").next().unwrap_or(s).to_string()
        });
        for r in p
            .get("externalRefs")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let ty = sv(r, "referenceType").unwrap_or_default();
            let Some(loc_str) = bounded(
                inv,
                &loc,
                "referenceLocator",
                "reference not used",
                sv(r, "referenceLocator"),
            ) else {
                continue;
            };
            match ty.as_str() {
                "purl" => match Purl::parse(&loc_str) {
                    Ok(pu) => c.purl = Some(pu),
                    Err(e) => inv
                        .errors
                        .push(diag(&loc, format!("{e} (package kept without purl)"))),
                },
                "cpe23Type" | "cpe22Type" => match Cpe::parse(&loc_str) {
                    Ok(cp) => c.cpe = Some(cp),
                    Err(e) => inv
                        .errors
                        .push(diag(&loc, format!("{e} (package kept without CPE)"))),
                },
                _ => {}
            }
        }
        inv.items.push(c);
    }
}

fn read_lines(location: &str, text: &str, inv: &mut Inventory, purl: bool) {
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let loc = format!("{location}:{}", i + 1);
        if l.len() > MAX_FIELD {
            inv.errors.push(diag(
                &loc,
                format!(
                    "line longer than {MAX_FIELD} bytes ({} bytes), not a {}: skipped",
                    l.len(),
                    if purl { "purl" } else { "CPE" }
                ),
            ));
            continue;
        }
        if purl {
            match Purl::parse(l) {
                Ok(p) => {
                    let mut c = Component::new(&p.osv_name(), &loc);
                    c.version = p.version.clone();
                    c.vendor = p.namespace.clone();
                    c.purl = Some(p);
                    inv.items.push(c);
                }
                Err(e) => inv.errors.push(diag(&loc, e.to_string())),
            }
        } else {
            match Cpe::parse(l) {
                Ok(p) => {
                    let Some(product) = p.product_str() else {
                        inv.errors.push(diag(&loc, "CPE without a product"));
                        continue;
                    };
                    let mut c = Component::new(&product, &loc);
                    c.version = p.version_str();
                    c.vendor = p.vendor_str();
                    c.cpe = Some(p);
                    inv.items.push(c);
                }
                Err(e) => inv.errors.push(diag(&loc, e.to_string())),
            }
        }
    }
}

/// Parses `true/false/yes/no/1/0` (case-insensitive).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Some(true),
        "false" | "no" | "0" | "n" => Some(false),
        _ => None,
    }
}

fn read_csv(location: &str, text: &str, inv: &mut Inventory) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|x| x.to_ascii_lowercase()).collect(),
        Err(e) => {
            inv.errors.push(diag(location, format!("CSV header: {e}")));
            return;
        }
    };
    let col = |n: &str| headers.iter().position(|h| h == n);
    let (cv, cp, cver, ch, ci, cc) = (
        col("vendor"),
        col("product"),
        col("version"),
        col("host"),
        col("internet_facing"),
        col("criticality"),
    );
    for (i, rec) in rdr.records().enumerate() {
        let loc = format!("{location}:{}", i + 2);
        let r = match rec {
            Ok(r) => r,
            Err(e) => {
                inv.errors.push(diag(&loc, format!("CSV: {e}")));
                continue;
            }
        };
        let get = |c: Option<usize>| {
            c.and_then(|k| r.get(k))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        if let Some(n) = r.iter().map(str::len).find(|n| *n > MAX_FIELD) {
            inv.errors.push(diag(
                &loc,
                format!("a field longer than {MAX_FIELD} bytes ({n} bytes): row skipped"),
            ));
            continue;
        }
        let Some(product) = get(cp) else {
            inv.errors.push(diag(&loc, "empty product"));
            continue;
        };
        let mut c = Component::new(&product, &loc);
        c.vendor = get(cv);
        c.version = get(cver);
        c.host = get(ch);
        if let Some(x) = get(ci) {
            match parse_bool(&x) {
                Some(b) => c.internet_facing = Some(b),
                None => inv.errors.push(diag(
                    &loc,
                    format!("internet_facing `{x}` is not true/false/yes/no/1/0 (row kept, exposure unknown)"),
                )),
            }
        }
        if let Some(x) = get(cc) {
            match Criticality::parse(&x) {
                Some(k) => c.criticality = Some(k),
                None => inv.errors.push(diag(
                    &loc,
                    format!(
                        "criticality `{x}` is not low/medium/high (row kept, criticality unknown)"
                    ),
                )),
            }
        }
        inv.items.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bad_rows() {
        let text = "vendor,product,version,host,internet_facing,criticality\nApache,Tomcat,9.0.1,web1,yes,high\nMicrosoft,Exchange,15.2,mail,maybe,HIGH\n,,1.0,x,0,low\nFortinet,FortiOS,7.0.1,fw,1,extreme\n";
        let inv = read_inventory("assets.csv", text.as_bytes());
        assert_eq!(inv.format, InventoryFormat::Csv);
        assert_eq!(inv.items.len(), 3);
        assert_eq!(inv.items[0].internet_facing, Some(true));
        assert_eq!(inv.items[0].criticality, Some(Criticality::High));
        assert_eq!(inv.items[1].internet_facing, None);
        assert_eq!(inv.items[1].criticality, Some(Criticality::High));
        assert_eq!(inv.items[2].criticality, None);
        let locs: Vec<&str> = inv.errors.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(locs, vec!["assets.csv:3", "assets.csv:4", "assets.csv:5"]);
    }

    #[test]
    fn cyclonedx_nested_and_broken() {
        let bom = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
            {"name":"a","version":"1.0","purl":"pkg:pypi/a@1.0","components":[{"name":"b","purl":"pkg:npm/b@2.0.0"},{"version":"1"}]},
            {"name":"c","purl":"not-a-purl"},
            {"name":"d","cpe":"cpe:2.3:a:v:d:1.0:*:*:*:*:*:*:*"}]}"#;
        let inv = read_inventory("bom.json", bom.as_bytes());
        assert_eq!(inv.format, InventoryFormat::Cyclonedx);
        let names: Vec<&str> = inv.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c", "d"]);
        assert_eq!(inv.items[1].effective_version().as_deref(), Some("2.0.0"));
        assert_eq!(inv.items[3].effective_version().as_deref(), Some("1.0"));
        assert_eq!(inv.errors.len(), 2);
        assert_eq!(
            inv.errors[0].location,
            "bom.json: components[0].components[1]"
        );
        assert_eq!(inv.errors[1].location, "bom.json: components[1]");
    }

    #[test]
    fn spdx_and_lists() {
        let spdx = r#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"log4j-core","versionInfo":"2.14.1","supplier":"Organization: Apache","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},{"referenceCategory":"SECURITY","referenceType":"cpe23Type","referenceLocator":"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*"}]},{"versionInfo":"1"}]}"#;
        let inv = read_inventory("s.spdx.json", spdx.as_bytes());
        assert_eq!(inv.format, InventoryFormat::Spdx);
        assert_eq!(inv.items.len(), 1);
        assert_eq!(inv.items[0].vendor.as_deref(), Some("Apache"));
        assert!(inv.items[0].purl.is_some() && inv.items[0].cpe.is_some());
        assert_eq!(inv.errors.len(), 1);
        let inv = read_inventory("p.txt", b"# purls\npkg:pypi/django@3.2.0\npkg:bad\n");
        assert_eq!((inv.items.len(), inv.errors.len()), (1, 1));
        assert_eq!(inv.errors[0].location, "p.txt:3");
        let inv = read_inventory(
            "c.txt",
            b"cpe:2.3:a:apache:tomcat:9.0.1:*:*:*:*:*:*:*\ncpe:/a:apache:http_server:2.4.49\n",
        );
        assert_eq!(inv.format, InventoryFormat::CpeList);
        assert_eq!(inv.items.len(), 2);
        assert_eq!(inv.items[1].version.as_deref(), Some("2.4.49"));
        let inv = read_inventory("x", &[0xc3, 0x28]);
        assert_eq!(inv.errors.len(), 1);
    }

    #[test]
    fn overlong_fields_are_refused_by_length_and_the_rest_is_read() {
        let long = "a".repeat(MAX_FIELD + 1);
        let said = |inv: &Inventory| -> Vec<String> {
            inv.errors
                .iter()
                .map(|e| format!("{} {}", e.location, e.message))
                .collect()
        };
        let no_text = |inv: &Inventory| {
            assert!(
                inv.errors.iter().all(|e| !e.message.contains(&long[..64])),
                "a diagnostic repeats the overlong text"
            )
        };
        // A line at the limit is still read as a purl; one byte more is refused.
        let at_limit = format!("pkg:npm/{}", "b".repeat(MAX_FIELD - 8));
        let text =
            format!("pkg:npm/lodash@4.17.20\npkg:npm/{long}\n{at_limit}\npkg:pypi/django@3.2.0\n");
        let inv = read_inventory("p.txt", text.as_bytes());
        assert_eq!(inv.items.len(), 3, "{:?}", said(&inv));
        assert_eq!(
            said(&inv),
            vec![format!(
                "p.txt:2 line longer than {MAX_FIELD} bytes ({} bytes), not a purl: skipped",
                MAX_FIELD + 9
            )]
        );
        no_text(&inv);
        let inv = read_inventory("c.txt", format!("cpe:/a:x:y:1\ncpe:/a:{long}\n").as_bytes());
        assert_eq!((inv.items.len(), inv.errors.len()), (1, 1));
        assert!(
            said(&inv)[0].starts_with("c.txt:2 line longer"),
            "{:?}",
            said(&inv)
        );

        let bom = format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
            {{"name":"{long}","components":[{{"name":"child","version":"1.0"}}]}},
            {{"name":"a","version":"{long}","purl":"pkg:npm/{long}","cpe":"cpe:/a:{long}","group":"{long}"}},
            {{"name":"b","version":"2.0"}}]}}"#
        );
        let inv = read_inventory("bom.json", bom.as_bytes());
        let names: Vec<&str> = inv.items.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["child", "a", "b"], "{:?}", said(&inv));
        let a = &inv.items[1];
        assert!(a.version.is_none() && a.vendor.is_none() && a.purl.is_none() && a.cpe.is_none());
        assert_eq!(inv.errors.len(), 5, "{:?}", said(&inv));
        assert!(said(&inv)[0].starts_with("bom.json: components[0] name longer than"));
        no_text(&inv);

        let spdx = format!(
            r#"{{"spdxVersion":"SPDX-2.3","packages":[{{"name":"{long}"}},
            {{"name":"p","versionInfo":"1","externalRefs":[{{"referenceType":"purl","referenceLocator":"pkg:npm/{long}"}}]}}]}}"#
        );
        let inv = read_inventory("s.json", spdx.as_bytes());
        assert_eq!(inv.items.len(), 1);
        assert!(inv.items[0].purl.is_none());
        assert_eq!(inv.errors.len(), 2, "{:?}", said(&inv));
        no_text(&inv);

        let csv = format!(
            "vendor,product,version,host,internet_facing,criticality\nApache,Tomcat,9.0.1,web1,yes,high\nx,y,1,h,{long},low\n"
        );
        let inv = read_inventory("a.csv", csv.as_bytes());
        assert_eq!(inv.items.len(), 1);
        assert_eq!(
            said(&inv),
            vec![format!(
                "a.csv:3 a field longer than {MAX_FIELD} bytes ({} bytes): row skipped",
                MAX_FIELD + 1
            )]
        );
    }
}
