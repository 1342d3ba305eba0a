//! Property tests: parsers never panic, and every scheme's ordering is a total order on the versions it
//! accepts (reflexive, antisymmetric, transitive on random triples).
#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;

use proptest::prelude::*;
use vigil_vuln::range::{vers_from_native, CargoReq, VersRange};
use vigil_vuln::{Cpe, Purl, Scheme};

/// Version-like strings for each scheme, biased towards the characters that scheme gives meaning to.
fn version_strategy(s: Scheme) -> BoxedStrategy<String> {
    let re = match s {
        Scheme::Semver | Scheme::Cargo => {
            r"(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)(-(alpha|beta|rc|0|[1-9]|x-y)(\.(0|[1-9]|alpha)){0,2})?(\+b[0-9])?"
        }
        Scheme::Npm => {
            r"v?(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)(-(alpha|beta|rc|0|[1-9]|x-y)(\.(0|[1-9]|alpha)){0,2})?(\+b[0-9])?"
        }
        Scheme::Go => {
            r"v?(0|[1-9])\.(0|[1-9])\.(0|[1-9])(-(0\.)?(2021010[1-9]|rc\.[0-9])(-[a-f0-9]{4})?)?(\+incompatible)?"
        }
        Scheme::Pypi => {
            r"([0-9]!)?[0-9]{1,2}(\.[0-9]{1,2}){0,3}((a|b|rc|c|alpha|pre)[0-9]?)?(\.post[0-9]?|-[0-9])?(\.dev[0-9]?)?(\+[a-z0-9]{1,3}(\.[a-z0-9]{1,2})?)?"
        }
        Scheme::Deb => {
            r"([0-9]:)?[0-9]{1,2}(\.[0-9a-z]{1,2}){0,3}(~[a-z0-9]{1,3})?(\+[a-z0-9]{1,4})?(-[0-9a-z.+~]{1,4})?"
        }
        Scheme::Rpm => {
            r"([0-9]:)?[0-9]{1,2}(\.[0-9a-z]{1,2}){0,3}([~^][a-z0-9]{1,3})?(-[0-9a-z._]{1,4})?"
        }
        Scheme::Maven => {
            r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}([-.]?(alpha|beta|milestone|rc|cr|snapshot|ga|final|sp|a|b|m|foo)[0-9]?)?(-[0-9a-z]{1,3})?"
        }
        Scheme::Nuget => {
            r"v?[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-(alpha|Beta|rc|[0-9])(\.[0-9a-z]{1,2}){0,2})?(\+m[0-9])?"
        }
        Scheme::Gem => r"[0-9]{1,2}(\.[0-9a-z]{1,2}){0,3}(-[0-9a-z]{1,3})?",
        Scheme::Composer => {
            r"v?[0-9]{1,2}(\.[0-9]{1,2}){0,3}([-._]?(dev|alpha|a|beta|b|RC|rc|pl|p|patch|foo)[0-9]?)?"
        }
        Scheme::Generic => r"v?[0-9]{1,2}([._-][0-9a-z]{1,3}){0,4}",
    };
    proptest::string::string_regex(re).unwrap().boxed()
}

fn check_total(s: Scheme, a: &str, b: &str, c: &str) -> Result<(), TestCaseError> {
    let (Ok(x), Ok(y), Ok(z)) = (s.parse(a), s.parse(b), s.parse(c)) else {
        return Ok(());
    };
    prop_assert_eq!(x.cmp(&x), Ordering::Equal, "{} not reflexive on {}", s, a);
    prop_assert_eq!(
        x.cmp(&y),
        y.cmp(&x).reverse(),
        "{} antisymmetry: {} vs {}",
        s,
        a,
        b
    );
    if x <= y && y <= z {
        prop_assert!(
            x <= z,
            "{} transitivity: {} <= {} <= {} but not {} <= {}",
            s,
            a,
            b,
            c,
            a,
            c
        );
    }
    if x == y && y == z {
        prop_assert!(x == z);
    }
    Ok(())
}

macro_rules! total_order_test {
    ($name:ident, $scheme:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]
            #[test]
            fn $name(a in version_strategy($scheme), b in version_strategy($scheme), c in version_strategy($scheme)) {
                check_total($scheme, &a, &b, &c)?;
                // Sorting must agree with pairwise comparisons.
                let mut v: Vec<_> = [&a, &b, &c].iter().filter_map(|x| $scheme.parse(x).ok()).collect();
                v.sort();
                for w in v.windows(2) { prop_assert!(w[0] <= w[1]); }
            }
        }
    };
}

total_order_test!(total_semver, Scheme::Semver);
total_order_test!(total_npm, Scheme::Npm);
total_order_test!(total_cargo, Scheme::Cargo);
total_order_test!(total_go, Scheme::Go);
total_order_test!(total_pypi, Scheme::Pypi);
total_order_test!(total_deb, Scheme::Deb);
total_order_test!(total_rpm, Scheme::Rpm);
total_order_test!(total_maven, Scheme::Maven);
total_order_test!(total_nuget, Scheme::Nuget);
total_order_test!(total_gem, Scheme::Gem);
total_order_test!(total_composer, Scheme::Composer);
total_order_test!(total_generic, Scheme::Generic);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        for scheme in Scheme::ALL {
            let _ = scheme.parse(&s);
        }
        let _ = Purl::parse(&s);
        let _ = Cpe::parse(&s);
        let _ = VersRange::parse(&s);
        let _ = VersRange::parse_canonical(&s);
        let _ = vers_from_native(Scheme::Generic, &s);
        let _ = CargoReq::parse(&s);
    }

    #[test]
    fn structured_inputs_never_panic(s in "(pkg:|cpe:2\\.3:|cpe:/|vers:)[a-z0-9%:/@?=&#.*<>|!~^+-]{0,40}") {
        let _ = Purl::parse(&s);
        let _ = Cpe::parse(&s);
        if let Ok(v) = VersRange::parse(&s) {
            let _ = v.contains("1.0");
            let _ = v.normalised();
        }
    }

    #[test]
    fn purl_canonical_round_trip(ty in "(npm|pypi|maven|golang|deb|generic)", ns in "[a-zA-Z@][a-zA-Z0-9._-]{0,8}", name in "[a-zA-Z][a-zA-Z0-9._ -]{0,10}", ver in "[0-9][0-9a-z.:+~-]{0,8}") {
        let raw = format!("pkg:{ty}/{ns}/{}@{ver}", name.replace(' ', "%20"));
        if let Ok(p) = Purl::parse(&raw) {
            let again = Purl::parse(&p.canonical()).unwrap();
            prop_assert_eq!(&again, &p);
            prop_assert_eq!(again.canonical(), p.canonical());
        }
    }

    #[test]
    fn cpe_fs_round_trip(v in "[a-z0-9_]{1,8}", p in "[a-z0-9_.-]{1,8}", ver in "[0-9][0-9.]{0,6}") {
        let c = Cpe::parse(&format!("cpe:2.3:a:{v}:{p}:{ver}:*:*:*:*:*:*:*")).unwrap();
        prop_assert_eq!(Cpe::parse(&c.to_fs()).unwrap(), c.clone());
        let uri = Cpe::parse(&format!("cpe:/a:{v}:{p}:{ver}")).unwrap();
        prop_assert_eq!(uri, c);
    }
}

/// The generators must mostly produce versions the scheme accepts, or the order properties test nothing.
#[test]
fn generators_produce_valid_versions() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for s in Scheme::ALL {
        let strat = version_strategy(s);
        let n = 300;
        let ok = (0..n)
            .filter(|_| {
                s.parse(&strat.new_tree(&mut runner).unwrap().current())
                    .is_ok()
            })
            .count();
        assert!(
            ok * 100 / n >= 60,
            "{s}: only {ok}/{n} generated versions parse"
        );
    }
}
